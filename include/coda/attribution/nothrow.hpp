// The exception-free interface of the embedded path. Each function validates everything it is
// given (finite pixels, class indices, workspace) before running the allocation-free kernels, and
// reports problems as a status with a message instead of an exception, so it can be used from
// code built with -fno-exceptions (where the rest of the library reports errors by printing and
// aborting, see CODA_THROW) or from code that must not let exceptions cross its boundary. These
// headers compile without exceptions; file I/O (coda/io/) needs them, so a -fno-exceptions
// application obtains its parameters another way (e.g. compiled in) and hands them to
// network::update_parameters.
#pragma once

#include <cmath>
#include <cstdio>

#include "coda/attribution/contributions.hpp"

namespace coda {

enum class status { ok, non_finite_input, class_out_of_range, workspace_too_small, failed };

/// The outcome of a try_ function; true when it succeeded.
struct result {
  status code = status::ok;
  char message[160] = {};

  explicit operator bool() const { return code == status::ok; }
};

namespace detail {

inline result failure(status code, const char* format, long value) {
  result r;
  r.code = code;
  std::snprintf(r.message, sizeof r.message, format, value);
  return r;
}

template <class Net>
result check_image(const sample<typename Net::scalar_type, typename Net::image_shape>& image) {
  for (index_t i = 0; i < image.size(); ++i)
    if (!std::isfinite(image.data()[i]))
      return failure(status::non_finite_input, "coda: pixel %ld of the image is not finite (NaN or infinity)", long(i));
  return {};
}

template <class Net>
result check_workspace(workspace<Net>& ws) {
  if (ws.tape().memory().capacity() < workspace<Net>::size)
    return failure(status::workspace_too_small, "coda: the workspace holds fewer than %ld elements", long(workspace<Net>::size));
  return {};
}

/// Runs f, which cannot fail once the inputs are valid; with exceptions enabled, anything it
/// throws anyway becomes status::failed.
template <class F>
result run_checked(F&& f) noexcept {
#if CODA_EXCEPTIONS
  try {
    f();
  } catch (const std::exception& e) {
    result r;
    r.code = status::failed;
    std::snprintf(r.message, sizeof r.message, "%s", e.what());
    return r;
  } catch (...) {
    return failure(status::failed, "coda: unknown error (%ld)", 0);
  }
#else
  f();
#endif
  return {};
}

}  // namespace detail

/// predict() without exceptions.
template <class Net>
result try_predict(const Net& net, const sample<typename Net::scalar_type, typename Net::image_shape>& image,
                   sample<typename Net::scalar_type, typename Net::logits_shape>& logits, workspace<Net>& ws) noexcept {
  if (result r = detail::check_image<Net>(image); !r) return r;
  if (result r = detail::check_workspace(ws); !r) return r;
  return detail::run_checked([&] { predict(net, image, logits, ws); });
}

/// explain() without exceptions.
template <class Net>
result try_explain(const Net& net, const sample<typename Net::scalar_type, typename Net::image_shape>& image, index_t cls,
                   sample<typename Net::scalar_type, typename Net::encoded_shape>& out, workspace<Net>& ws,
                   sample<typename Net::scalar_type, typename Net::logits_shape>* logits = nullptr) noexcept {
  if (cls < 0 || cls >= Net::num_classes)
    return detail::failure(status::class_out_of_range, "coda: class index %ld is out of range", long(cls));
  if (result r = detail::check_image<Net>(image); !r) return r;
  if (result r = detail::check_workspace(ws); !r) return r;
  return detail::run_checked([&] { explain(net, image, cls, out, ws, logits); });
}

/// explain_all() without exceptions.
template <class Net>
result try_explain_all(const Net& net, const sample<typename Net::scalar_type, typename Net::image_shape>& image,
                       sample<typename Net::scalar_type, typename Net::contributions_shape>& out, workspace<Net>& ws,
                       sample<typename Net::scalar_type, typename Net::logits_shape>* logits = nullptr) noexcept {
  if (result r = detail::check_image<Net>(image); !r) return r;
  if (result r = detail::check_workspace(ws); !r) return r;
  return detail::run_checked([&] { explain_all(net, image, out, ws, logits); });
}

}  // namespace coda
