// coda-cifar10 metrics: the paper's localisation and pixel-removal metrics (docs/math.md §6) for the
// model's own contributions and the baseline attribution methods, run as the authors run them.
#include <coda/attribution/localisation.hpp>
#include <coda/attribution/pixel_removal.hpp>
#include <coda/io/atomic_file.hpp>
#include <coda/data/augment.hpp>
#include <coda/nn/presets.hpp>
#include <report/report.hpp>
#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <sstream>

#include "args.hpp"
#include "attribution_flags.hpp"
#include "commands.hpp"
#include "data.hpp"
#include "model_dispatch.hpp"
#include "progress.hpp"

namespace cifar {

namespace {

using coda::report::gallery_entry;
using coda::report::method_localisation;
using coda::report::metrics_report;

struct metrics_options {
  std::vector<coda::attribution_method> methods;
  coda::attribution_options attribution;
  bool localisation, removal;
  coda::index_t samples, grid, images, gallery;
  double min_confidence;
  std::uint64_t seed;
  std::string out;
};

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

double mean(const std::vector<double>& v) { return v.empty() ? 0 : std::accumulate(v.begin(), v.end(), 0.0) / double(v.size()); }

/// The first `count` images of a seeded permutation of the test split.
std::vector<coda::index_t> sample_images(coda::index_t size, coda::index_t count, std::uint64_t seed) {
  auto order = coda::epoch_order(size, seed, 0, true);
  order.resize(static_cast<std::size_t>(std::min(count, size)));
  return order;
}

/// Work is handed to the library in chunks of a few items per thread, so that the progress bar
/// moves while an expensive method (occlusion: thousands of forward passes per grid) runs.
coda::index_t progress_chunk() { return 2 * coda::threads(); }

template <class Net>
std::vector<std::vector<double>> localisation_with_progress(const Net& net, coda::attribution_method method,
                                                            const coda::cifar10_dataset& test,
                                                            const std::vector<coda::localisation_grid>& grids, coda::index_t n,
                                                            const coda::attribution_options& options, const std::string& name) {
  std::vector<std::vector<double>> scores;
  progress bar("localisation " + name, coda::index_t(grids.size()));
  for (std::size_t first = 0; first < grids.size(); first += std::size_t(progress_chunk())) {
    const std::vector<coda::localisation_grid> chunk(grids.begin() + long(first),
                                                     grids.begin() + long(std::min(grids.size(), first + std::size_t(progress_chunk()))));
    auto part = n == 2 ? coda::localisation_scores<2>(net, method, test, chunk, options)
                       : coda::localisation_scores<3>(net, method, test, chunk, options);
    scores.insert(scores.end(), part.begin(), part.end());
    bar.update(coda::index_t(scores.size()));
  }
  bar.finish();
  return scores;
}

/// coda::pixel_removal over chunks of `images`; the mean curves are weighted by chunk size.
template <class Net>
std::array<std::vector<double>, 2> removal_with_progress(const Net& net, coda::attribution_method method,
                                                         const coda::cifar10_dataset& test, const std::vector<coda::index_t>& images,
                                                         const coda::attribution_options& options, const std::string& name) {
  std::array<std::vector<double>, 2> mean{std::vector<double>(coda::removal_points, 0.0), std::vector<double>(coda::removal_points, 0.0)};
  progress bar("pixel-removal " + name, coda::index_t(images.size()));
  for (std::size_t first = 0; first < images.size(); first += std::size_t(progress_chunk())) {
    const std::vector<coda::index_t> chunk(images.begin() + long(first),
                                           images.begin() + long(std::min(images.size(), first + std::size_t(progress_chunk()))));
    const auto part = coda::pixel_removal(net, method, test, chunk, options);
    const double weight = double(chunk.size()) / double(images.size());
    for (std::size_t order = 0; order < 2; ++order)
      for (std::size_t k = 0; k < mean[order].size(); ++k) mean[order][k] += weight * part[order][k];
    bar.update(coda::index_t(first + chunk.size()));
  }
  bar.finish();
  return mean;
}

template <class Net>
metrics_report run_metrics(const Net& net, const coda::cifar10_dataset& test, const metrics_options& o, std::ostringstream& csv_loc,
                           std::ostringstream& csv_rem) {
  metrics_report report;
  report.grid = o.grid;
  report.samples = o.samples;
  report.images = o.images;
  report.min_confidence = o.min_confidence;
  report.seed = o.seed;
  std::vector<coda::localisation_grid> grids;
  if (o.localisation) {
    const auto ranked = coda::confident_images(net, test, o.min_confidence);
    grids = coda::make_grids(ranked, test.labels, o.grid, o.samples, static_cast<std::uint32_t>(o.seed));
    if (grids.empty()) {
      std::size_t classes = 0;
      for (const auto& list : ranked) classes += list.empty() ? 0 : 1;
      throw coda::argument_error("no localisation grid can be drawn: " + std::to_string(classes) +
                             " classes have a test image classified correctly with sigmoid(logit) > " + std::to_string(o.min_confidence) +
                             ", a " + std::to_string(o.grid) + "x" + std::to_string(o.grid) + " grid needs more than " +
                             std::to_string(o.grid * o.grid));
    }
    if (static_cast<coda::index_t>(grids.size()) < o.samples)
      std::printf("localisation: the confident test images give %zu grids, not the %lld asked for\n", grids.size(),
                  static_cast<long long>(o.samples));
    report.samples = static_cast<long>(grids.size());
  }
  const auto removal_images = coda::removal_images(test.labels, o.images);
  const auto gallery_images = sample_images(test.size(), o.gallery, o.seed + 1);
  for (const auto method : o.methods) {
    const std::string name = coda::method_name(method);
    if (o.localisation) {
      const auto per_grid = localisation_with_progress(net, method, test, grids, o.grid, o.attribution, name);
      method_localisation entry{name, {}};
      for (std::size_t g = 0; g < per_grid.size(); ++g)
        for (std::size_t c = 0; c < per_grid[g].size(); ++c) {
          entry.scores.push_back(per_grid[g][c]);
          csv_loc << name << ',' << g << ',' << c << ',' << grids[g].classes[c] << ',' << grids[g].images[c] << ','
                  << per_grid[g][c] << '\n';
        }
      std::printf("localisation %s: mean %.4f median %.4f\n", name.c_str(), mean(entry.scores), median(entry.scores));
      std::fflush(stdout);
      report.localisation.push_back(std::move(entry));
    }
    if (o.removal) {
      const auto curves = removal_with_progress(net, method, test, removal_images, o.attribution, name);
      for (int order = 0; order < 2; ++order)
        for (coda::index_t k = 0; k < coda::removal_points; ++k)
          csv_rem << name << ',' << (order ? "most_first" : "least_first") << ',' << k << ','
                  << coda::pixels_removed_at(k, 1024) << ',' << double(coda::pixels_removed_at(k, 1024)) / 1024 << ','
                  << curves[static_cast<std::size_t>(order)][static_cast<std::size_t>(k)] << '\n';
      std::printf("pixel-removal %s: start %.4f end %.4f\n", name.c_str(), curves[0].front(), curves[0].back());
      std::fflush(stdout);
      report.removal.push_back({name, curves[0], curves[1]});
    }
    for (const coda::index_t idx : gallery_images) {
      gallery_entry e{name, long(idx), test.labels[static_cast<std::size_t>(idx)], std::vector<float>(3072), {}};
      test.image_as(idx, e.image.data());
      const auto map = coda::attribute(net, method, e.image.data(), {e.label}, o.attribution).summed(0);
      e.map.assign(map.begin(), map.end());
      report.gallery.push_back(std::move(e));
    }
  }
  return report;
}

}  // namespace

int run_metrics(int argc, const char* const* argv) {
  const args a("metrics", argc, argv, 2);
  metrics_options o;
  const std::string data = a.required("data"), model = a.required("model");
  o.methods = method_list(a);
  o.attribution = attribution_flags(a);
  o.localisation = a.has("localisation") || !a.has("pixel-removal");
  o.removal = a.has("pixel-removal") || !a.has("localisation");
  o.samples = a.integer("samples", 1, 1 << 20);
  o.grid = a.integer("grid", 2, 3);
  o.min_confidence = a.number("min-confidence", 0, 1);
  o.images = a.integer("images", 1, 1 << 20);
  o.gallery = a.integer("gallery", 0, 100);
  o.seed = static_cast<std::uint64_t>(a.integer("seed", 0, 4294967295LL));
  o.out = a.value("out");
  const int threads = apply_threads(a);

  const auto file = coda::safetensors_file::read(model);
  const auto test = load_split(data, a.choice("format", {"auto", "binary", "folder"}), coda::dataset_split::test, 0, threads);
  std::error_code ec;
  std::filesystem::create_directories(o.out, ec);
  if (ec) throw coda::io_error(o.out + ": cannot create the output directory: " + ec.message());
  std::ostringstream csv_loc, csv_rem;
  csv_loc << "method,grid,cell,class,image,score\n";
  csv_rem << "method,order,step,pixels_removed,fraction_removed,mean_probability\n";
  auto report = with_model(file, model_flags(a), [&](const auto& net) { return run_metrics(net, test, o, csv_loc, csv_rem); });
  report.model = model;
  report.data = data;
  const auto write = [&](const std::string& name, const std::string& text) {
    coda::write_file_atomically(o.out + "/" + name, text.data(), text.size());
  };
  if (o.localisation) write("localisation.csv", csv_loc.str());
  if (o.removal) write("pixel_removal.csv", csv_rem.str());
  write("report.html", coda::report::render_html(report));
  std::printf("wrote %s/report.html\n", o.out.c_str());
  return 0;
}

}  // namespace cifar
