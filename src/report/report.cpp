// The HTML report of coda-cifar10 metrics (report.hpp): one self-contained HTML5 document with
// the settings, a table and an inline SVG plot per metric, the paper's published numbers and a
// gallery of attribution maps as PNG data URIs.

#include <coda/attribution/methods.hpp>
#include <coda/attribution/pixel_removal.hpp>
#include <coda/data/cifar.hpp>

#include <algorithm>
#include <array>
#include <numeric>

#include "report/html.hpp"
#include "report/report.hpp"

namespace coda::report {

namespace {

using namespace html;

// ---- methods ---------------------------------------------------------------------------------

/// One colour per attribution method, the same in every plot and table.
constexpr std::array<const char*, 9> palette{"#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#bcbd22",
                                             "#17becf", "#ff7f0e", "#8c564b", "#e377c2"};
static_assert(palette.size() == coda::all_attribution_methods.size());

std::string colour_of(const std::string& method) {
  const auto m = coda::parse_method(method);
  return m ? palette[static_cast<std::size_t>(*m)] : "#7f7f7f";
}

std::string method_cell(const std::string& method) {
  return element("span", "", "class=\"swatch\" style=\"background:" + colour_of(method) + "\"") + escape(method);
}

// ---- statistics ------------------------------------------------------------------------------

/// Quantile p of sorted values, linear between order statistics (numpy's default).
double quantile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  const double pos = p * double(sorted.size() - 1);
  const auto i = static_cast<std::size_t>(pos);
  const std::size_t j = std::min(i + 1, sorted.size() - 1);
  return sorted[i] + (pos - double(i)) * (sorted[j] - sorted[i]);
}

/// What a box plot shows. Whiskers end at the most extreme values within 1.5 IQR of the box.
struct summary {
  std::vector<double> sorted;
  double mean = 0, q1 = 0, median = 0, q3 = 0, low = 0, high = 0;
};

summary summarise(std::vector<double> values) {
  summary s;
  std::sort(values.begin(), values.end());
  s.sorted = std::move(values);
  if (s.sorted.empty()) return s;
  s.mean = std::accumulate(s.sorted.begin(), s.sorted.end(), 0.0) / double(s.sorted.size());
  s.q1 = quantile(s.sorted, 0.25);
  s.median = quantile(s.sorted, 0.5);
  s.q3 = quantile(s.sorted, 0.75);
  const double reach = 1.5 * (s.q3 - s.q1);
  s.low = *std::lower_bound(s.sorted.begin(), s.sorted.end(), s.q1 - reach);
  s.high = *(std::upper_bound(s.sorted.begin(), s.sorted.end(), s.q3 + reach) - 1);
  return s;
}

/// Trapezoidal area under a curve sampled evenly over [0, removal_fraction], divided by
/// removal_fraction: the mean probability over the removal (1 when it never drops).
double normalised_area(const std::vector<double>& curve) {
  if (curve.size() < 2) return curve.empty() ? 0 : curve.front();
  double sum = 0;
  for (std::size_t k = 1; k < curve.size(); ++k) sum += (curve[k - 1] + curve[k]) / 2;
  return sum / double(curve.size() - 1);
}

std::string end_value(const std::vector<double>& curve, bool last) {
  return curve.empty() ? "&mdash;" : fixed(last ? curve.back() : curve.front());
}

// ---- SVG -------------------------------------------------------------------------------------

/// One method's box in slot i of the box plot.
std::string box(const frame& f, std::size_t i, const std::string& method, const summary& s) {
  const double cx = f.x(double(i) + 0.5), half = 0.22 * (f.x(1) - f.x(0));
  std::string out = text(cx, f.y_end() + 18, method);
  if (s.sorted.empty()) return out;
  const std::string colour = colour_of(method), dark = stroke("#333");
  for (const double end : {s.low, s.high}) out += line(cx - half / 2, f.y(end), cx + half / 2, f.y(end), dark);
  out += line(cx, f.y(s.low), cx, f.y(s.q1), dark) + line(cx, f.y(s.q3), cx, f.y(s.high), dark);
  out += "<rect x=\"" + coord(cx - half) + "\" y=\"" + coord(f.y(s.q3)) + "\" width=\"" + coord(2 * half) + "\" height=\"" +
         coord(f.y(s.q1) - f.y(s.q3)) + "\" fill=\"" + colour + "\" fill-opacity=\"0.35\" " + stroke(colour) + "/>";
  out += line(cx - half, f.y(s.median), cx + half, f.y(s.median), stroke(colour, 3));
  for (const double v : s.sorted)
    if (v < s.low || v > s.high) out += circle(cx, f.y(v), 2, "fill=\"" + colour + "\" fill-opacity=\"0.5\"");
  return out + circle(cx, f.y(s.mean), 3.5, "fill=\"#fff\" " + stroke("#222", 1.2));
}

std::string box_plot(const metrics_report& r, const std::vector<summary>& summaries) {
  const std::size_t n = r.localisation.size();
  const frame f{std::max(420.0, 100.0 * double(n) + 80), 340, 70, 20, 15, 40, double(n)};
  std::string body = y_axis(f, "localisation score");
  const double chance = 1.0 / double(r.grid * r.grid);
  body += line(f.left, f.y(chance), f.x_end(), f.y(chance), stroke("#555", 1.2) + dashed);
  body += text(f.x_end() - 4, f.y(chance) - 5, "chance 1/" + std::to_string(r.grid * r.grid), "end", " fill=\"#555\"");
  for (std::size_t i = 0; i < n; ++i) body += box(f, i, r.localisation[i].method, summaries[i]);
  return svg(f, body, "Localisation scores per method");
}

std::string polyline(const frame& f, const std::vector<double>& curve, const std::string& colour, const std::string& dash) {
  std::string points;
  for (std::size_t k = 0; k < curve.size(); ++k)
    points += coord(f.x(coda::removal_fraction * double(k) / double(std::max<std::size_t>(curve.size() - 1, 1)))) + "," +
              coord(f.y(curve[k])) + " ";
  return "<polyline fill=\"none\" " + stroke(colour, 2) + dash + " points=\"" + points + "\"/>";
}

std::string removal_plot(const metrics_report& r) {
  const frame f{780, 360, 70, 200, 15, 45, coda::removal_fraction};
  std::string body = y_axis(f, "mean probability of the true class");
  for (int t = 0; t <= 5; ++t) {
    const double v = coda::removal_fraction * t / 5, x = f.x(v);
    body += line(x, f.y_end(), x, f.y_end() + 5, stroke("#333", 1)) + text(x, f.y_end() + 18, format("%g%%", 100 * v));
  }
  body += text((f.left + f.x_end()) / 2, f.height - 6, "fraction of pixels removed");
  int row = 0;
  for (const auto& m : r.removal) {
    const std::string colour = colour_of(m.method);
    body += polyline(f, m.least_first, colour, "") + polyline(f, m.most_first, colour, dashed);
    body += legend_entry(f, row++, colour, "", m.method);
  }
  body += legend_entry(f, ++row, "#555", "", "least important first");
  body += legend_entry(f, ++row, "#555", dashed, "most important first");
  return svg(f, body, "Pixel-removal curves per method");
}

// ---- sections --------------------------------------------------------------------------------

std::string header_section(const metrics_report& r) {
  const std::string grid = std::to_string(r.grid) + "&times;" + std::to_string(r.grid);
  const std::vector<std::pair<std::string, std::string>> settings{
      {"model", escape(r.model)},
      {"data", escape(r.data)},
      {"grid", grid},
      {"samples", std::to_string(r.samples) + " grids"},
      {"images", std::to_string(r.images) + " (pixel removal)"},
      {"min-confidence", format("%g", r.min_confidence)},
      {"seed", std::to_string(r.seed)}};
  std::string dl;
  for (const auto& [name, value] : settings) dl += element("dt", name) + element("dd", value) + "\n";
  return element("header", "\n" + element("h1", "CoDA-Net attribution metrics") + "\n" + element("dl", "\n" + dl, "class=\"settings\"")) +
         "\n";
}

std::string localisation_section(const metrics_report& r) {
  if (r.localisation.empty()) return "";
  std::vector<summary> summaries;
  std::vector<cells> rows;
  for (const auto& m : r.localisation) {
    const summary& s = summaries.emplace_back(summarise(m.scores));
    rows.push_back({method_cell(m.method), fixed(s.mean), fixed(s.median), fixed(s.q1), fixed(s.q3), std::to_string(s.sorted.size())});
  }
  const std::string n = std::to_string(r.grid);
  return section("localisation", "Localisation (grid pointing game)",
                 note("Each score is the fraction of a method's positive attribution on a " + n + "&times;" + n +
                      " grid of correctly classified images of different classes that falls in the cell of the attributed "
                      "class: 1 is perfect, 1/" + std::to_string(r.grid * r.grid) + " is chance.") +
                     table({"method", "mean", "median", "Q1", "Q3", "count"}, rows) + box_plot(r, summaries) +
                     note("Box: quartiles; thick line: median; white circle: mean; whiskers: the most extreme scores within "
                          "1.5 IQR of the box; dots: scores beyond; dashed line: chance level."));
}

std::string removal_section(const metrics_report& r) {
  if (r.removal.empty()) return "";
  std::vector<cells> rows;
  for (const auto& m : r.removal)
    rows.push_back({method_cell(m.method), end_value(m.least_first, false), end_value(m.least_first, true),
                    fixed(normalised_area(m.least_first)), end_value(m.most_first, true)});
  return section("pixel-removal", "Pixel removal",
                 note("Mean probability (sigmoid of the true-class logit) while up to 25% of the pixels are removed in the "
                      "order of each method's attribution. Start and end: least important first, at 0% and 25%; area: the "
                      "area under that curve divided by 0.25 (1 = the probability never drops).") +
                     table({"method", "start", "end (25%)", "area, least first", "end, most first"}, rows) + removal_plot(r));
}

/// The published numbers of the paper (RISE is in the authors' code, not in the paper's table).
std::string paper_section() {
  struct published {
    const char *method, *localisation, *removal;
  };
  constexpr published paper[] = {{"coda", "0.912", "0.962 (from 0.926)"}, {"occlusion9", "0.842", "0.962"},
                                 {"gradcam", "0.726", "0.842"},           {"occlusion5", "0.563", "&mdash;"},
                                 {"intgrad", "0.154", "&asymp; 0.25"},    {"ixg", "0.144", "&asymp; 0.25"},
                                 {"grad", "0.144", "0.756"},              {"deeplift", "0.144", "&asymp; 0.25"},
                                 {"rise", "&mdash;", "&mdash;"}};
  std::vector<cells> rows;
  for (const auto& p : paper) rows.push_back({method_cell(p.method), p.localisation, p.removal});
  return section("paper", "Published values (for reference)",
                 note("The paper's numbers for the paper's model (B&ouml;hle et al., CoDA-Nets, CVPR 2021: CIFAR-10, 9 layers, "
                      "T&nbsp;=&nbsp;1000; 500 grids of 3&times;3), not for the model of this report.") +
                     table({"method", "localisation mean", "pixel removal at 25%, least first"}, rows, "class=\"paper\""));
}

const gallery_entry* find_entry(const std::vector<gallery_entry>& gallery, long image, const std::string* method) {
  const auto it = std::find_if(gallery.begin(), gallery.end(),
                               [&](const gallery_entry& e) { return e.image_index == image && (!method || e.method == *method); });
  return it == gallery.end() ? nullptr : &*it;
}

bool well_formed(const gallery_entry& e) { return e.image.size() == 3 * image_pixels && e.map.size() == image_pixels; }

std::string gallery_cell(const gallery_entry* e, const std::string& method) {
  if (!e || !well_formed(*e)) return "&mdash;";
  return figure(map_picture(e->map), class_name(e->label) + " · " + method, "range ±" + format("%.3g", map_range(e->map)));
}

std::string gallery_section(const metrics_report& r) {
  std::vector<long> images;
  std::vector<std::string> methods;
  for (const auto& e : r.gallery) {
    if (std::find(images.begin(), images.end(), e.image_index) == images.end()) images.push_back(e.image_index);
    if (std::find(methods.begin(), methods.end(), e.method) == methods.end()) methods.push_back(e.method);
  }
  if (images.empty()) return "";
  cells header{"input"};
  for (const auto& m : methods) header.push_back(method_cell(m));
  std::vector<cells> rows;
  for (const long image : images) {
    const gallery_entry& first = *find_entry(r.gallery, image, nullptr);
    cells row{well_formed(first) ? figure(image_picture(first.image), class_name(first.label), "test image " + std::to_string(image))
                                 : "&mdash;"};
    for (const auto& m : methods) row.push_back(gallery_cell(find_entry(r.gallery, image, &m), m));
    rows.push_back(std::move(row));
  }
  return section("gallery", "Attribution maps",
                 note("Each method's map for the image's true class, summed over the input channels, on a symmetric colour "
                      "range per map (&plusmn;its largest magnitude, in the caption): " +
                      element("span", "", "class=\"colourbar\"") + " negative &ndash; 0 &ndash; positive.") +
                     element("div", table(header, rows, "class=\"gallery\""), "class=\"scroll\""));
}

}  // namespace

std::string render_html(const metrics_report& report) {
  return page("CoDA-Net attribution metrics", header_section(report) + localisation_section(report) + removal_section(report) +
                                                  paper_section() + gallery_section(report));
}

}  // namespace coda::report
