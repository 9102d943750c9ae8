// Building blocks of coda_report's self-contained HTML documents: escaped text and elements,
// tables, inline SVG plots, 32x32 pictures as PNG data URIs and the page with its style sheet.
// Both reports (report.hpp, training_report.hpp) are written with these, so they look alike.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace coda::report::html {

// ---- text ------------------------------------------------------------------------------------

using cells = std::vector<std::string>;

std::string escape(std::string_view s);
/// One number through printf's `spec` (e.g. "%.3f").
std::string format(const char* spec, double v);
std::string fixed(double v);
/// SVG coordinates: one decimal is plenty.
std::string coord(double v);
std::string element(std::string_view name, const std::string& body, const std::string& attributes = "");
/// A table of HTML cells (already escaped), the first column left-aligned.
std::string table(const cells& header, const std::vector<cells>& rows, const std::string& attributes = "");
/// The CIFAR-10 name of a label ("class 12" outside the ten).
std::string class_name(int label);
std::string section(const std::string& id, const std::string& title, const std::string& body);
std::string note(const std::string& html);
/// The whole document: head with `title` and the shared style sheet, then `body`.
std::string page(const std::string& title, const std::string& body);

// ---- pictures --------------------------------------------------------------------------------

using rgb = std::array<std::uint8_t, 3>;
constexpr int image_side = 32, gallery_scale = 4, picture_side = image_side * gallery_scale;
constexpr std::size_t image_pixels = image_side * image_side;

/// A 32x32 picture, pixel i coloured by colour(i), enlarged (nearest neighbour) as a PNG data URI.
std::string picture(const std::function<rgb(std::size_t)>& colour);
/// An image, 3x32x32 in [0, 1].
std::string image_picture(const std::vector<float>& chw);
/// Largest |value| of a map: its symmetric colour range.
float map_range(const std::vector<float>& map);
/// A 32x32 signed map on the diverging scale blue - white (0) - red, symmetric around 0.
std::string map_picture(const std::vector<float>& map);
/// A picture with a two-line caption: `caption`, then `detail` in small print.
std::string figure(const std::string& uri, const std::string& caption, const std::string& detail);

// ---- SVG -------------------------------------------------------------------------------------

/// A plot area inside margins: x from 0 to x_max, y from 0 to y_max (values outside are clamped).
struct frame {
  double width, height, left, right, top, bottom, x_max, y_max = 1;
  double x(double v) const;
  double y(double v) const;
  double x_end() const { return width - right; }
  double y_end() const { return height - bottom; }
};

std::string line(double x1, double y1, double x2, double y2, const std::string& style);
std::string text(double x, double y, const std::string& s, const char* anchor = "middle", const std::string& extra = "");
std::string circle(double x, double y, double r, const std::string& style);
std::string stroke(const std::string& colour, double width = 1.5);
/// The y axis from 0 to y_max with five ticks, grid lines and a rotated label.
std::string y_axis(const frame& f, const std::string& label);
std::string svg(const frame& f, const std::string& body, const std::string& title);
constexpr const char* dashed = " stroke-dasharray=\"7 4\"";
/// Legend row `row` to the right of the plot: a line sample and a label.
std::string legend_entry(const frame& f, int row, const std::string& colour, const std::string& dash, const std::string& label);

}  // namespace coda::report::html
