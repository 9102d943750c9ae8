// One const network shared by many threads: four threads, each with its own workspace, call the
// single-image predict / explain / explain_all on different images over and over while two more
// threads call the batched contributions_all (which shares the library's thread pool); every
// result must be bit-identical to the same call made sequentially. Also run under ThreadSanitizer
// (CODA_SANITIZE=thread), so the test itself shares nothing mutable between threads: each thread
// writes only its own counters, read after join().
#include <atomic>
#include <catch2/catch.hpp>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

#include "coda/attribution/contributions.hpp"
#include "support/random_network.hpp"

namespace test_thread_safety {

using namespace coda;

namespace {

/// cifar10-9l in miniature: 3x32x32 images, ten classes, strides 1 and 2, kernels 3 and 1.
using small_net = network<float, shape<3, 32, 32>,          //
                          dau_conv<6, 8, 6, 3, 1, 1>,       //
                          dau_conv<8, 12, 8, 3, 2, 1>,      //
                          dau_conv<12, 12, 8, 3, 2, 1>,     //
                          dau_conv<12, 10, 8, 1, 1, 0>>;

using image_t = sample<float, small_net::image_shape>;
using logits_t = sample<float, small_net::logits_shape>;
using map_t = sample<float, small_net::encoded_shape>;
using maps_t = sample<float, small_net::contributions_shape>;

constexpr int single_threads = 4, batched_threads = 2, images_per_thread = 2;
constexpr int num_images = single_threads * images_per_thread;
constexpr int single_rounds = 12, batched_rounds = 4;

template <class A>
bool same_bits(const A& a, const A& b) {
  return std::memcmp(a.data(), b.data(), sizeof(float) * static_cast<std::size_t>(a.size())) == 0;
}

/// Sequential results of the single-image calls for one image.
struct expected_single {
  logits_t logits, explain_logits, all_logits;
  map_t map;
  maps_t maps;
  index_t cls = 0;
};

/// Mismatches seen by one thread (written only by that thread).
struct thread_report {
  int calls = 0, mismatches = 0, exceptions = 0;
};

/// All threads start together so that their calls overlap.
void wait_for_start(std::atomic<int>& ready, int total) {
  ready.fetch_add(1);
  while (ready.load() < total) std::this_thread::yield();
}

}  // namespace

TEST_CASE("one const network serves concurrent single-image and batched calls bit-identically", "[threads]") {
  const small_net net = test::random_network<small_net>(21);
  const auto images = test::random_images<float, small_net::image_shape>(num_images, 8);
  const int threads_before = threads();
  set_threads(3);  // the batched calls use a pool with helper threads (set before any call runs)

  std::vector<std::unique_ptr<image_t>> single(num_images);
  for (int i = 0; i < num_images; ++i) {
    single[static_cast<std::size_t>(i)] = std::make_unique<image_t>();
    std::memcpy(single[static_cast<std::size_t>(i)]->data(), images.sample_data(i), sizeof(float) * image_t::size());
  }

  // Sequential references.
  std::vector<std::unique_ptr<expected_single>> expected(num_images);
  {
    workspace<small_net> ws;
    for (int i = 0; i < num_images; ++i) {
      auto e = std::make_unique<expected_single>();
      e->cls = (3 * i + 1) % small_net::num_classes;
      predict(net, *single[static_cast<std::size_t>(i)], e->logits, ws);
      explain(net, *single[static_cast<std::size_t>(i)], e->cls, e->map, ws, &e->explain_logits);
      explain_all(net, *single[static_cast<std::size_t>(i)], e->maps, ws, &e->all_logits);
      expected[static_cast<std::size_t>(i)] = std::move(e);
    }
  }
  tensor<float, small_net::logits_shape> batched_logits;
  const auto batched = contributions_all(net, images.view(), &batched_logits);
  // The references are sensible: a fresh workspace and a second batched call reproduce them.
  {
    workspace<small_net> ws;
    logits_t again;
    predict(net, *single[0], again, ws);
    REQUIRE(same_bits(again, expected[0]->logits));
    tensor<float, small_net::logits_shape> logits2;
    const auto again_batched = contributions_all(net, images.view(), &logits2);
    REQUIRE(std::memcmp(again_batched.data(), batched.data(), sizeof(float) * static_cast<std::size_t>(batched.size())) == 0);
  }

  std::atomic<int> ready{0};
  constexpr int total_threads = single_threads + batched_threads;
  std::vector<thread_report> reports(total_threads);
  std::vector<std::thread> pool;
  for (int t = 0; t < single_threads; ++t)
    pool.emplace_back([&, t] {
      thread_report& me = reports[static_cast<std::size_t>(t)];
      try {
        workspace<small_net> ws;
        auto logits = std::make_unique<logits_t>();
        auto map = std::make_unique<map_t>();
        auto maps = std::make_unique<maps_t>();
        wait_for_start(ready, total_threads);
        for (int round = 0; round < single_rounds; ++round)
          for (int k = 0; k < images_per_thread; ++k) {
            // Thread t owns images t, t + 4, ...: no two threads work on the same image.
            const auto i = static_cast<std::size_t>(t + k * single_threads);
            const image_t& image = *single[i];
            const expected_single& e = *expected[i];
            predict(net, image, *logits, ws);
            me.mismatches += !same_bits(*logits, e.logits);
            explain(net, image, e.cls, *map, ws, logits.get());
            me.mismatches += !same_bits(*map, e.map) + !same_bits(*logits, e.explain_logits);
            explain_all(net, image, *maps, ws, logits.get());
            me.mismatches += !same_bits(*maps, e.maps) + !same_bits(*logits, e.all_logits);
            me.calls += 3;
          }
      } catch (...) {
        ++me.exceptions;
      }
    });
  for (int t = 0; t < batched_threads; ++t)
    pool.emplace_back([&, t] {
      thread_report& me = reports[static_cast<std::size_t>(single_threads + t)];
      try {
        wait_for_start(ready, total_threads);
        for (int round = 0; round < batched_rounds; ++round) {
          tensor<float, small_net::logits_shape> logits;
          const auto maps = contributions_all(net, images.view(), &logits);
          me.mismatches += maps.size() != batched.size() ||
                           std::memcmp(maps.data(), batched.data(), sizeof(float) * static_cast<std::size_t>(batched.size())) != 0;
          me.mismatches += std::memcmp(logits.data(), batched_logits.data(),
                                       sizeof(float) * static_cast<std::size_t>(batched_logits.size())) != 0;
          ++me.calls;
        }
      } catch (...) {
        ++me.exceptions;
      }
    });
  for (auto& th : pool) th.join();
  set_threads(threads_before);

  for (int t = 0; t < total_threads; ++t) {
    INFO("thread " << t << (t < single_threads ? " (single-image calls)" : " (batched contributions_all)"));
    const thread_report& r = reports[static_cast<std::size_t>(t)];
    CHECK(r.exceptions == 0);
    CHECK(r.mismatches == 0);
    CHECK(r.calls == (t < single_threads ? 3 * single_rounds * images_per_thread : batched_rounds));
  }
}

}  // namespace test_thread_safety
