// The HTML report of coda-cifar10 metrics (report.hpp): one self-contained HTML5 document with
// the settings, a table and an inline SVG plot per metric, the paper's published numbers and a
// gallery of attribution maps as PNG data URIs.

#include <coda/attribution/methods.hpp>
#include <coda/attribution/pixel_removal.hpp>
#include <coda/data/cifar.hpp>
#include <stb/stb_image_write.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <functional>
#include <numeric>
#include <string_view>

#include "report/report.hpp"

namespace coda::report {

namespace {

// ---- text ------------------------------------------------------------------------------------

using cells = std::vector<std::string>;

std::string escape(std::string_view s) {
  std::string out;
  for (const char c : s) switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  return out;
}

std::string format(const char* spec, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, spec, v);
  return buf;
}

std::string fixed(double v) { return format("%.3f", v); }

/// SVG coordinates: one decimal is plenty.
std::string coord(double v) { return format("%.1f", v); }

std::string element(std::string_view name, const std::string& body, const std::string& attributes = "") {
  const std::string n(name);
  return "<" + n + (attributes.empty() ? "" : " " + attributes) + ">" + body + "</" + n + ">";
}

/// A table of HTML cells (already escaped), the first column left-aligned.
std::string table(const cells& header, const std::vector<cells>& rows, const std::string& attributes = "") {
  std::string head, body;
  for (const auto& h : header) head += element("th", h);
  for (const auto& r : rows) {
    std::string tr;
    for (const auto& c : r) tr += element("td", c);
    body += element("tr", tr) + "\n";
  }
  return element("table", element("thead", element("tr", head)) + "\n" + element("tbody", body), attributes) + "\n";
}

std::string class_name(int label) {
  return label >= 0 && label < static_cast<int>(coda::cifar10_classes.size()) ? coda::cifar10_classes[static_cast<std::size_t>(label)]
                                                                              : "class " + std::to_string(label);
}

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

// ---- pictures --------------------------------------------------------------------------------

using rgb = std::array<std::uint8_t, 3>;
constexpr int image_side = 32, gallery_scale = 4, picture_side = image_side * gallery_scale;
constexpr std::size_t image_pixels = image_side * image_side;

std::uint8_t byte(float v) { return static_cast<std::uint8_t>(std::lround(std::clamp(v, 0.f, 1.f) * 255.f)); }

/// The diverging map of coda-cifar10 explain (examples/cifar10/render.cpp), t in [-1, 1]: blue, white at 0, red.
rgb diverging(float t) {
  t = std::clamp(t, -1.f, 1.f);
  return t >= 0 ? rgb{255, byte(1 - t), byte(1 - t)} : rgb{byte(1 + t), byte(1 + t), 255};
}

std::string base64(const std::vector<std::uint8_t>& bytes) {
  static constexpr char digits[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (std::size_t i = 0; i < bytes.size(); i += 3) {
    const std::size_t n = std::min<std::size_t>(3, bytes.size() - i);
    std::uint32_t v = 0;
    for (std::size_t k = 0; k < 3; ++k) v = v << 8 | (k < n ? bytes[i + k] : 0u);
    for (std::size_t k = 0; k < 4; ++k) out += k <= n ? digits[v >> (18 - 6 * k) & 63] : '=';
  }
  return out;
}

/// A 32x32 picture, pixel i coloured by colour(i), enlarged (nearest neighbour) as a PNG data URI.
std::string picture(const std::function<rgb(std::size_t)>& colour) {
  std::vector<std::uint8_t> px(static_cast<std::size_t>(picture_side * picture_side * 3));
  for (int y = 0; y < picture_side; ++y)
    for (int x = 0; x < picture_side; ++x) {
      const rgb c = colour(static_cast<std::size_t>(y / gallery_scale * image_side + x / gallery_scale));
      std::copy(c.begin(), c.end(), px.begin() + (y * picture_side + x) * 3);
    }
  std::vector<std::uint8_t> png;
  const auto append = [](void* context, void* data, int size) {
    auto* out = static_cast<std::vector<std::uint8_t>*>(context);
    out->insert(out->end(), static_cast<std::uint8_t*>(data), static_cast<std::uint8_t*>(data) + size);
  };
  if (!stbi_write_png_to_func(append, &png, picture_side, picture_side, 3, px.data(), picture_side * 3)) return "";
  return "data:image/png;base64," + base64(png);
}

std::string image_picture(const std::vector<float>& chw) {
  return picture([&](std::size_t i) { return rgb{byte(chw[i]), byte(chw[image_pixels + i]), byte(chw[2 * image_pixels + i])}; });
}

/// Largest |value| of a map: its symmetric colour range.
float map_range(const std::vector<float>& map) {
  float largest = 0;
  for (const float v : map) largest = std::max(largest, std::abs(v));
  return largest;
}

std::string map_picture(const std::vector<float>& map) {
  const float range = map_range(map);
  return picture([&](std::size_t i) { return diverging(range > 0 ? map[i] / range : 0.f); });
}

// ---- SVG -------------------------------------------------------------------------------------

/// A plot area inside margins: x from 0 to x_max, y from 0 to 1 (values outside are clamped).
struct frame {
  double width, height, left, right, top, bottom, x_max;
  double x(double v) const { return left + v / x_max * (width - left - right); }
  double y(double v) const { return top + (1 - std::clamp(std::isfinite(v) ? v : 0.0, 0.0, 1.0)) * (height - top - bottom); }
  double x_end() const { return width - right; }
  double y_end() const { return height - bottom; }
};

std::string line(double x1, double y1, double x2, double y2, const std::string& style) {
  return "<line x1=\"" + coord(x1) + "\" y1=\"" + coord(y1) + "\" x2=\"" + coord(x2) + "\" y2=\"" + coord(y2) + "\" " + style + "/>";
}

std::string text(double x, double y, const std::string& s, const char* anchor = "middle", const std::string& extra = "") {
  return element("text", escape(s), "x=\"" + coord(x) + "\" y=\"" + coord(y) + "\" text-anchor=\"" + anchor + "\"" + extra);
}

std::string circle(double x, double y, double r, const std::string& style) {
  return "<circle cx=\"" + coord(x) + "\" cy=\"" + coord(y) + "\" r=\"" + coord(r) + "\" " + style + "/>";
}

std::string stroke(const std::string& colour, double width = 1.5) {
  return "stroke=\"" + colour + "\" stroke-width=\"" + coord(width) + "\"";
}

/// The y axis from 0 to 1 with ticks every 0.2, grid lines and a rotated label.
std::string y_axis(const frame& f, const std::string& label) {
  std::string out;
  for (int t = 0; t <= 5; ++t) {
    const double v = t / 5.0, y = f.y(v);
    out += line(f.left, y, f.x_end(), y, stroke("#e5e5e5", 1)) + line(f.left - 5, y, f.left, y, stroke("#333", 1));
    out += text(f.left - 8, y + 4, format("%.1f", v), "end");
  }
  out += line(f.left, f.top, f.left, f.y_end(), stroke("#333", 1)) + line(f.left, f.y_end(), f.x_end(), f.y_end(), stroke("#333", 1));
  const double mid = (f.top + f.y_end()) / 2;
  return out + text(16, mid, label, "middle", " transform=\"rotate(-90 16 " + coord(mid) + ")\"");
}

std::string svg(const frame& f, const std::string& body, const std::string& title) {
  return "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 " + coord(f.width) + " " + coord(f.height) + "\" width=\"" +
         coord(f.width) + "\" height=\"" + coord(f.height) + "\" role=\"img\">" + element("title", escape(title)) + body + "</svg>\n";
}

constexpr const char* dashed = " stroke-dasharray=\"7 4\"";

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

/// Legend row `row` to the right of the plot: a line sample and a label.
std::string legend_entry(const frame& f, int row, const std::string& colour, const std::string& dash, const std::string& label) {
  const double x = f.x_end() + 16, y = f.top + 10 + 20 * row;
  return line(x, y, x + 28, y, stroke(colour, 2) + dash) + text(x + 36, y + 4, label, "start");
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

std::string section(const std::string& id, const std::string& title, const std::string& body) {
  return element("section", "\n" + element("h2", escape(title)) + "\n" + body, "id=\"" + id + "\"") + "\n";
}

std::string note(const std::string& html) { return element("p", html, "class=\"note\"") + "\n"; }

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

/// A gallery picture with a two-line caption: `caption`, then `detail` in small print.
std::string figure(const std::string& uri, const std::string& caption, const std::string& detail) {
  if (uri.empty()) return "&mdash;";
  const std::string side = std::to_string(picture_side);
  return element("figure", "<img src=\"" + uri + "\" width=\"" + side + "\" height=\"" + side + "\" alt=\"" + escape(caption) + "\">" +
                               element("figcaption", escape(caption) + "<br>" + element("small", escape(detail))));
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

constexpr const char* style = R"(
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;color:#222;line-height:1.4;max-width:1240px;margin:1.5rem auto;padding:0 1rem}
h1{font-size:1.6rem;margin:0 0 .6rem}
h2{font-size:1.25rem;margin:2rem 0 .4rem;padding-bottom:.2rem;border-bottom:1px solid #ddd}
dl.settings{display:grid;grid-template-columns:max-content 1fr;gap:.15rem 1.2rem;margin:0}
dl.settings dt{font-weight:600}
dl.settings dd{margin:0;font-family:ui-monospace,Menlo,Consolas,monospace;overflow-wrap:anywhere}
table{border-collapse:collapse;margin:.6rem 0;font-variant-numeric:tabular-nums}
th,td{padding:.25rem .8rem;border-bottom:1px solid #e5e5e5;text-align:right}
th:first-child,td:first-child{text-align:left}
thead th{border-bottom:2px solid #999}
table.paper{background:#fbfaf3}
.note{color:#555;font-size:.9rem;max-width:60rem}
.swatch{display:inline-block;width:.8em;height:.8em;border-radius:2px;margin-right:.45em;vertical-align:-.05em}
.colourbar{display:inline-block;width:9rem;height:.8em;vertical-align:-.05em;border:1px solid #aaa;background:linear-gradient(to right,#00f,#fff,#f00)}
svg{display:block;max-width:100%;height:auto;margin:.8rem 0;font:12px system-ui,-apple-system,Helvetica,Arial,sans-serif}
svg text{fill:#333}
.scroll{overflow-x:auto}
table.gallery td,table.gallery th{text-align:center;vertical-align:top;padding:.35rem}
table.gallery figure{margin:0}
table.gallery img{display:block;margin:0 auto;image-rendering:pixelated}
table.gallery figcaption{font-size:.75rem;color:#444;max-width:128px;margin:.2rem auto 0;line-height:1.25}
table.gallery figcaption small{color:#777;font-size:.7rem}
)";

}  // namespace

std::string render_html(const metrics_report& report) {
  return "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
         "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
         "<title>CoDA-Net attribution metrics</title>\n" +
         element("style", style) + "\n</head>\n<body>\n" + header_section(report) + localisation_section(report) +
         removal_section(report) + paper_section() + gallery_section(report) + "</body>\n</html>\n";
}

}  // namespace coda::report
