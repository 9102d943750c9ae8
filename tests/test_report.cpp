// The HTML report of coda-cifar10 metrics (src/report/, coda_report) on small hand-made data:
// one HTML5 document, one SVG plot per metric computed, names escaped wherever they appear, one
// PNG data URI per gallery picture, and the same palette colour for a method everywhere. The
// whole metrics run, report included, is tested end to end in tests/cli/test_cli_metrics.cpp.
#include <catch2/catch.hpp>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "report/report.hpp"
#include "support/text.hpp"

namespace test_report {

using namespace coda::report;
using coda::test::occurrences;

namespace {

/// A gallery picture: a grey image and a map from -1 to 1.
gallery_entry picture(const std::string& method, long image, int label) {
  std::vector<float> map(32 * 32);
  for (std::size_t i = 0; i < map.size(); ++i) map[i] = float(i) / float(map.size() - 1) * 2 - 1;
  return {method, image, label, std::vector<float>(3 * 32 * 32, 0.5f), map};
}

/// Two methods and both metrics; a gallery of two images by two methods.
metrics_report small_report() {
  metrics_report r;
  r.model = "models/<tiny> & \"fast\".safetensors";
  r.data = "data";
  r.grid = 2;
  r.samples = 2;
  r.images = 4;
  r.seed = 7;
  r.localisation = {{"coda", {0.9, 0.8, 1.0, 0.7}}, {"gradcam", {0.3, 0.5, 0.25, 0.6}}};
  r.removal = {{"coda", {0.9, 0.88, 0.85}, {0.9, 0.5, 0.2}}, {"gradcam", {0.9, 0.8, 0.7}, {0.9, 0.6, 0.4}}};
  for (const long image : {3L, 11L})
    for (const char* method : {"coda", "gradcam"}) r.gallery.push_back(picture(method, image, int(image % 10)));
  return r;
}

/// Method -> every colour its swatches have in the tables.
std::map<std::string, std::set<std::string>> swatch_colours(const std::string& html) {
  static const std::regex swatch(R"re(class="swatch" style="background:(#[0-9a-f]{6})"></span>([^<]*))re");
  std::map<std::string, std::set<std::string>> colours;
  for (std::sregex_iterator it(html.begin(), html.end(), swatch), end; it != end; ++it) colours[(*it)[2]].insert((*it)[1]);
  return colours;
}

}  // namespace

TEST_CASE("report: one HTML5 document with the settings and one section per part", "[report]") {
  const std::string html = render_html(small_report());
  CHECK(html.rfind("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">", 0) == 0);
  CHECK(html.size() >= 8);
  CHECK(html.substr(html.size() - 8) == "</html>\n");
  for (const char* tag : {"html", "head", "body", "style", "title", "header", "section", "table", "svg", "figure"}) {
    INFO(tag);
    const std::string t(tag);
    CHECK(occurrences(html, "<" + t + ">") + occurrences(html, "<" + t + " ") == occurrences(html, "</" + t + ">"));
  }
  for (const char* id : {"localisation", "pixel-removal", "paper", "gallery"})
    CHECK(occurrences(html, "<section id=\"" + std::string(id) + "\">") == 1);
  CHECK(occurrences(html, "<dt>seed</dt><dd>7</dd>") == 1);
  CHECK(occurrences(html, "<dt>grid</dt><dd>2&times;2</dd>") == 1);
}

TEST_CASE("report: one SVG plot per metric computed, none for a metric left out", "[report]") {
  auto r = small_report();
  const std::string both = render_html(r);
  CHECK(occurrences(both, "<svg ") == 2);
  CHECK(occurrences(both, "<title>Localisation scores per method</title>") == 1);
  CHECK(occurrences(both, "<title>Pixel-removal curves per method</title>") == 1);
  // Both curves of each method are drawn.
  CHECK(occurrences(both, "<polyline ") == 2 * r.removal.size());

  r.removal.clear();
  const std::string localisation_only = render_html(r);
  CHECK(occurrences(localisation_only, "<svg ") == 1);
  CHECK(occurrences(localisation_only, "<section id=\"pixel-removal\">") == 0);

  r.localisation.clear();
  r.gallery.clear();
  const std::string neither = render_html(r);
  CHECK(occurrences(neither, "<svg ") == 0);
  CHECK(occurrences(neither, "<section id=\"gallery\">") == 0);
  CHECK(occurrences(neither, "<section id=\"paper\">") == 1);
}

TEST_CASE("report: names from the command line are escaped", "[report]") {
  auto r = small_report();
  r.data = "<script>alert('x')</script>";
  const std::string html = render_html(r);
  CHECK(occurrences(html, "models/&lt;tiny&gt; &amp; &quot;fast&quot;.safetensors") == 1);
  CHECK(occurrences(html, "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;") == 1);
  CHECK(occurrences(html, "<tiny>") == 0);
  CHECK(occurrences(html, "<script") == 0);
}

TEST_CASE("report: one PNG data URI per gallery picture, a dash for a malformed entry", "[report]") {
  auto r = small_report();
  const std::string uri = "src=\"data:image/png;base64,iVBORw0KGgo";  // base64 of the PNG signature
  const std::string dash = "<td>&mdash;</td>";  // also in the table of published values
  const std::string html = render_html(r);
  // Two input images and four maps.
  CHECK(occurrences(html, uri) == 2 + r.gallery.size());
  r.gallery.back().map.resize(10);
  const std::string malformed = render_html(r);
  CHECK(occurrences(malformed, uri) == 2 + r.gallery.size() - 1);
  CHECK(occurrences(malformed, dash) == occurrences(html, dash) + 1);
}

TEST_CASE("report: each method has one palette colour, its own, in every table and plot", "[report]") {
  auto r = small_report();
  r.removal.push_back({"not-a-method", {0.5, 0.5, 0.5}, {0.5, 0.4, 0.3}});
  const std::string html = render_html(r);
  const auto colours = swatch_colours(html);
  std::set<std::string> distinct;
  for (const char* method : {"coda", "gradcam", "not-a-method"}) {
    INFO(method);
    REQUIRE(colours.count(method) == 1);
    REQUIRE(colours.at(method).size() == 1);
    const std::string colour = *colours.at(method).begin();
    distinct.insert(colour);
    // The plots draw the method in the same colour: its pixel-removal curves at least.
    CHECK(occurrences(html, "<polyline fill=\"none\" stroke=\"" + colour + "\"") >= 2);
  }
  CHECK(distinct.size() == 3);
  // A name outside the library's methods gets the neutral grey.
  CHECK(*colours.at("not-a-method").begin() == "#7f7f7f");
}

}  // namespace test_report
