// coda_report's HTML building blocks (html.hpp).
#include <coda/data/cifar.hpp>
#include <stb/stb_image_write.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "report/html.hpp"

namespace coda::report::html {

namespace {

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


}  // namespace

// ---- text ------------------------------------------------------------------------------------

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

std::string coord(double v) { return format("%.1f", v); }

std::string element(std::string_view name, const std::string& body, const std::string& attributes) {
  const std::string n(name);
  return "<" + n + (attributes.empty() ? "" : " " + attributes) + ">" + body + "</" + n + ">";
}

std::string table(const cells& header, const std::vector<cells>& rows, const std::string& attributes) {
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

std::string section(const std::string& id, const std::string& title, const std::string& body) {
  return element("section", "\n" + element("h2", escape(title)) + "\n" + body, "id=\"" + id + "\"") + "\n";
}

std::string note(const std::string& html) { return element("p", html, "class=\"note\"") + "\n"; }

std::string page(const std::string& title, const std::string& body) {
  return "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
         "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n" +
         element("title", escape(title)) + "\n" + element("style", style) + "\n</head>\n<body>\n" + body + "</body>\n</html>\n";
}

// ---- pictures --------------------------------------------------------------------------------

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

float map_range(const std::vector<float>& map) {
  float largest = 0;
  for (const float v : map) largest = std::max(largest, std::abs(v));
  return largest;
}

std::string map_picture(const std::vector<float>& map) {
  const float range = map_range(map);
  return picture([&](std::size_t i) { return diverging(range > 0 ? map[i] / range : 0.f); });
}

std::string figure(const std::string& uri, const std::string& caption, const std::string& detail) {
  if (uri.empty()) return "&mdash;";
  const std::string side = std::to_string(picture_side);
  return element("figure", "<img src=\"" + uri + "\" width=\"" + side + "\" height=\"" + side + "\" alt=\"" + escape(caption) + "\">" +
                               element("figcaption", escape(caption) + "<br>" + element("small", escape(detail))));
}

// ---- SVG -------------------------------------------------------------------------------------

double frame::x(double v) const { return left + v / x_max * (width - left - right); }
double frame::y(double v) const {
  return top + (1 - std::clamp(std::isfinite(v) ? v / y_max : 0.0, 0.0, 1.0)) * (height - top - bottom);
}

std::string line(double x1, double y1, double x2, double y2, const std::string& style) {
  return "<line x1=\"" + coord(x1) + "\" y1=\"" + coord(y1) + "\" x2=\"" + coord(x2) + "\" y2=\"" + coord(y2) + "\" " + style + "/>";
}

std::string text(double x, double y, const std::string& s, const char* anchor, const std::string& extra) {
  return element("text", escape(s), "x=\"" + coord(x) + "\" y=\"" + coord(y) + "\" text-anchor=\"" + anchor + "\"" + extra);
}

std::string circle(double x, double y, double r, const std::string& style) {
  return "<circle cx=\"" + coord(x) + "\" cy=\"" + coord(y) + "\" r=\"" + coord(r) + "\" " + style + "/>";
}

std::string stroke(const std::string& colour, double width) {
  return "stroke=\"" + colour + "\" stroke-width=\"" + coord(width) + "\"";
}

std::string y_axis(const frame& f, const std::string& label) {
  std::string out;
  for (int t = 0; t <= 5; ++t) {
    const double v = f.y_max * t / 5.0, y = f.y(v);
    out += line(f.left, y, f.x_end(), y, stroke("#e5e5e5", 1)) + line(f.left - 5, y, f.left, y, stroke("#333", 1));
    out += text(f.left - 8, y + 4, format(f.y_max == 1 ? "%.1f" : "%.3g", v), "end");
  }
  out += line(f.left, f.top, f.left, f.y_end(), stroke("#333", 1)) + line(f.left, f.y_end(), f.x_end(), f.y_end(), stroke("#333", 1));
  const double mid = (f.top + f.y_end()) / 2;
  return out + text(16, mid, label, "middle", " transform=\"rotate(-90 16 " + coord(mid) + ")\"");
}

std::string svg(const frame& f, const std::string& body, const std::string& title) {
  return "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 " + coord(f.width) + " " + coord(f.height) + "\" width=\"" +
         coord(f.width) + "\" height=\"" + coord(f.height) + "\" role=\"img\">" + element("title", escape(title)) + body + "</svg>\n";
}

std::string legend_entry(const frame& f, int row, const std::string& colour, const std::string& dash, const std::string& label) {
  const double x = f.x_end() + 16, y = f.top + 10 + 20 * row;
  return line(x, y, x + 28, y, stroke(colour, 2) + dash) + text(x + 36, y + 4, label, "start");
}

}  // namespace coda::report::html
