// coda-cifar10 explain --layer L and --all-layers: the contributions at the input of any layer,
// drawn at the image's size (one row of panels per layer), each layer's sum printed and equal to
// the others' (completeness holds at every layer), and the flags' misuse refused.
#include <catch2/catch.hpp>
#include <regex>
#include <string>
#include <vector>

#include "support/cli_runner.hpp"
#include "support/fixtures.hpp"
#include "support/picture.hpp"

namespace test_cli_explain_layers {

using namespace coda;

namespace {

/// The sums printed for each layer drawn, in order: "... layer L (CxHxW) sum to S (logit - bias)".
std::vector<std::pair<int, double>> layer_sums(const std::string& out) {
  std::vector<std::pair<int, double>> found;
  const std::regex line(R"(contributions at the input of layer (\d) \(\d+x\d+x\d+\) sum to (-?[0-9.]+) \(logit - bias\))");
  for (std::sregex_iterator it(out.begin(), out.end(), line), end; it != end; ++it)
    found.emplace_back(std::stoi((*it)[1]), std::stod((*it)[2]));
  return found;
}

/// Whether the map panel (the middle one) of row `row` is constant over blocks of `block` pixels.
bool map_in_blocks(const test::picture& p, int row, int block) {
  constexpr int gap = 8, side = 256, row_height = side + 2 * gap, x0 = gap + side + gap;
  for (int y = 0; y < side; ++y)
    for (int x = 0; x < side; ++x)
      if (p.at(x0 + x, row * row_height + gap + y) != p.at(x0 + x / block * block, row * row_height + gap + y / block * block))
        return false;
  return true;
}

std::string explain_args(const test::scratch_dir& dir, const std::string& out) {
  return "explain --model " + dir / "m.safetensors" + " --data " + test::fixture_path("cifar48") + " --index 1 --out " + out;
}

}  // namespace

TEST_CASE("explain --layer draws one layer's contributions at the image's size, summing to the logit", "[cli][explain]") {
  test::scratch_dir dir;
  REQUIRE(test::run_cli(dir, "init --seed 2 --out " + dir / "m.safetensors").exit_code == 0);
  const auto input = test::run_cli(dir, explain_args(dir, dir / "l0.png"));
  const auto l5 = test::run_cli(dir, explain_args(dir, dir / "l5.png") + " --layer 5");
  INFO("stdout:\n" << input.out << l5.out << "stderr:\n" << l5.err);
  REQUIRE(input.exit_code == 0);
  REQUIRE(l5.exit_code == 0);
  const auto s0 = layer_sums(input.out), s5 = layer_sums(l5.out);
  REQUIRE(s0.size() == 1);
  REQUIRE(s5.size() == 1);
  CHECK(s0[0].first == 0);
  CHECK(s5[0].first == 5);
  CHECK_THAT(l5.out, Catch::Contains("layer 5 (32x16x16)"));
  CHECK(s5[0].second == Approx(s0[0].second).margin(2e-6));  // both printed to 6 decimals
  const test::picture p0(dir / "l0.png"), p5(dir / "l5.png");
  CHECK(p5.width == 800);
  CHECK(p5.height == 272);
  CHECK(map_in_blocks(p5, 0, 16));  // layer 5's 16x16 map in 2x2-pixel blocks of the 32x32 image
  CHECK_FALSE(map_in_blocks(p0, 0, 16));
  CHECK(map_in_blocks(p0, 0, 8));
}

TEST_CASE("explain --all-layers draws a row per layer and prints every layer's sum", "[cli][explain]") {
  test::scratch_dir dir;
  REQUIRE(test::run_cli(dir, "init --seed 2 --out " + dir / "m.safetensors").exit_code == 0);
  const auto r = test::run_cli(dir, explain_args(dir, dir / "all.png") + " --all-layers --class ship");
  INFO("stdout:\n" << r.out << "stderr:\n" << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.out, Catch::Contains("explained class: ship; picture: "));
  CHECK_THAT(r.out, Catch::Contains("(800x2448, a row per layer from layer 0)"));
  const auto sums = layer_sums(r.out);
  REQUIRE(sums.size() == 9);
  for (int l = 0; l < 9; ++l) {
    CHECK(sums[std::size_t(l)].first == l);
    CHECK(sums[std::size_t(l)].second == Approx(sums[0].second).margin(2e-6));
  }
  const test::picture p(dir / "all.png");
  CHECK(p.width == 800);
  CHECK(p.height == 9 * 272);
  // Rows 0-2 are 32x32 maps, 3-5 16x16, 6-8 8x8: blocks of 8, 16 and 32 picture pixels.
  for (int row = 0; row < 9; ++row) {
    INFO("row " << row);
    CHECK(map_in_blocks(p, row, row < 3 ? 8 : row < 6 ? 16 : 32));
  }
  // The input panel (the first) is the same image in every row.
  for (int row = 1; row < 9; ++row) CHECK(p.at(100, row * 272 + 100) == p.at(100, 100));
}

TEST_CASE("explain refuses a layer past the last and --layer with --all-layers", "[cli][explain][errors]") {
  test::scratch_dir dir;
  REQUIRE(test::run_cli(dir, "init --seed 2 --out " + dir / "m.safetensors").exit_code == 0);
  test::expect_one_error(test::run_cli(dir, explain_args(dir, dir / "x.png") + " --layer 9"), 2, "--layer must be in [0, 8], got 9");
  test::expect_one_error(test::run_cli(dir, explain_args(dir, dir / "x.png") + " --layer 2 --all-layers"), 2,
                         "give either --layer or --all-layers, not both");
  CHECK_FALSE(std::filesystem::exists(dir / "x.png"));
}

}  // namespace test_cli_explain_layers
