#include "command_table.hpp"

#include <initializer_list>

namespace cifar {

namespace {

/// The flags of several groups, in order: a command's own list followed by shared groups.
std::vector<flag_info> joined(std::initializer_list<std::vector<flag_info>> groups) {
  std::vector<flag_info> all;
  for (const auto& group : groups) all.insert(all.end(), group.begin(), group.end());
  return all;
}

// Groups that several commands share with the same meaning and default.

const std::vector<flag_info> threads_flag{{"threads", "N", "all cores", "worker threads"}};

/// A model file's metadata, overridden from the command line (model_dispatch.hpp).
const std::vector<flag_info> model_override_flags{
    {"norm", "squash|l2", "from the model", "norm of the network, instead of the model file's"},
    {"temperature", "T", "from the model", "logit temperature, instead of the model file's"},
    {"logit-bias", "B", "from the model", "logit bias, instead of the model file's"},
};

const std::vector<flag_info> format_flag{
    {"format", "auto|binary|folder", "auto", "layout of --data: CIFAR-10 binary files or train/ and test/ image folders"}};

const std::vector<flag_info> device_flag{
    {"device", "cpu|cuda", "cpu", "where to compute; cuda needs CODA_WITH_CUDA=ON and a GPU of compute capability 9.0+"}};

/// attribution_flags.cpp; the numbers are coda::attribution_options' defaults (the paper's), which
/// the code uses: test_cli_help.cpp checks that they agree.
const std::vector<flag_info> attribution_method_flags{
    {"method", "LIST", "all", "comma-separated methods: coda grad ixg intgrad deeplift gradcam occlusion5 occlusion9 rise"},
    {"intgrad-steps", "N", "20", "integration steps of intgrad"},
    {"rise-masks", "N", "6000", "random masks of rise"},
    {"rise-grid", "N", "6", "side of rise's coarse mask grid"},
    {"rise-keep", "P", "0.1", "fraction of rise's grid cells kept"},
    {"rise-seed", "S", "0", "seed of rise's masks"},
};

std::vector<command_info> make_table() {
  return {
      {"init", "--out M [flags]", "Writes a freshly initialised cifar10-9l model (PyTorch's default initialisation, seeded).",
       joined({{
                   {"out", "M", required_flag, "the model file to write"},
                   {"seed", "S", "0", "seed of the initialisation"},
                   {"norm", "squash|l2", "squash", "norm of the network"},
                   {"temperature", "T", "1000", "logit temperature"},
                   {"logit-bias", "B", "log(1/9)", "logit bias"},
               },
               threads_flag})},
      {"predict", "--model M --input X --output Y [flags]",
       "Writes the logits, and with --explain the contributions, of the images in a tensor file.",
       joined({{
                   {"model", "M", required_flag, "the model file"},
                   {"input", "X", required_flag, "safetensors file with 'images', F32 [N,3,32,32] in [0,1]"},
                   {"output", "Y", required_flag, "safetensors file to write: 'logits', F32 [N,10]"},
                   {"explain", "", "", "also write 'contributions', F32 [N,10,6,32,32]"},
               },
               threads_flag, model_override_flags})},
      {"train", "--data DIR --out M [flags]",
       "Trains cifar10-9l (the paper's recipe by default), evaluating on the test split after each epoch.",
       joined({{
                   {"data", "DIR", required_flag, "the CIFAR-10 data set (imagenet100-9l: an image folder)"},
                   {"out", "M", required_flag, "the model file to write"},
                   {"arch", "cifar10-9l|imagenet100-9l", "cifar10-9l",
                    "the network; imagenet100-9l takes its authors' recipe as defaults (docs/imagenet.md)"},
                   {"epochs", "E", "200", "training epochs"},
                   {"batch", "B", "8", "images per mini-batch"},
                   {"virtual-batch", "V", "16", "images per optimiser step, a multiple of --batch"},
                   {"lr", "LR", "2.5e-4", "learning rate of the first --lr-step epochs"},
                   {"optimizer", "adam|sgd", "adam", "optimiser, with PyTorch's semantics"},
                   {"momentum", "MU", "0.9", "momentum of sgd"},
                   {"lr-step", "S", "30", "epochs between learning-rate decays"},
                   {"lr-decay", "D", "1.5", "divisor of the learning rate at each decay"},
                   {"warmup-epochs", "W", "0", "epochs of linear warm-up from --warmup-lr to --lr"},
                   {"warmup-lr", "LR0", "0", "learning rate of the first warm-up epoch"},
                   {"loss", "bce|ce", "bce", "binary or multi-class cross-entropy"},
                   {"norm", "squash|l2", "squash", "norm of the network (with --init: the model's unless given)"},
                   {"temperature", "T", "1000", "logit temperature (with --init: the model's unless given)"},
                   {"logit-bias", "B", "log(1/9)", "logit bias (with --init: the model's unless given)"},
                   {"init", "M0", "none", "start from this model file instead of a random initialisation"},
                   {"seed", "S", "0", "seed of the initialisation, the shuffling and the augmentation"},
                   {"no-augment", "", "", "train without random crops and flips"},
                   {"no-shuffle", "", "", "take the mini-batches in file order"},
                   {"limit-train", "N", "0", "train on a class-balanced subset of N images (0: all)"},
                   {"limit-test", "N", "0", "evaluate on a class-balanced subset of N images (0: all)"},
                   {"checkpoint-dir", "C", "none", "keep a checkpoint there, written after each epoch"},
                   {"checkpoint-every", "K", "0", "also write it every K optimiser steps (0: at epoch ends only)"},
                   {"resume", "", "", "continue from the checkpoint in --checkpoint-dir, if there is one"},
                   {"log", "FILE", "none", "append one CSV line per epoch to FILE"},
                   {"report", "FILE", "none", "rewrite an HTML training report (curves, time left, explanations) after each epoch"},
               },
               format_flag, threads_flag, device_flag})},
      {"eval", "--data DIR --model M [flags]", "Prints the test accuracy of a model (top-1 and top-5 beyond 10 classes).",
       joined({{
                   {"data", "DIR", required_flag, "the CIFAR-10 data set (an imagenet100-9l model: an image folder)"},
                   {"model", "M", required_flag, "the model file"},
                   {"limit-test", "N", "0", "evaluate on a class-balanced subset of N images (0: all)"},
               },
               format_flag, threads_flag, model_override_flags, device_flag})},
      {"explain", "--model M (--image FILE | --data DIR --index I) --out PNG [flags]",
       "Draws a model's contributions for one image (at its input or at any layer's) and prints its top-3 classes.",
       joined({{
                   {"model", "M", required_flag, "the model file"},
                   {"image", "FILE", "none", "the image (PNG, JPEG, ...; resized to 32x32, or for imagenet100-9l resized and centre-cropped to 240x240); or --data with --index"},
                   {"data", "DIR", "none", "the CIFAR-10 data set whose test image --index is explained"},
                   {"index", "I", "none", "index of the test image"},
                   {"out", "PNG", required_flag, "the picture to write"},
                   {"class", "C", "predicted", "explained class: 0-9 or a class name"},
                   {"layer", "L", "0", "draw the contributions at the input of layer L (0-8; 0: the encoded image)"},
                   {"all-layers", "", "", "draw every layer's, one row of panels per layer from layer 0"},
               },
               format_flag, threads_flag, model_override_flags})},
      {"bench", "[flags]", "Measures the inference, training and explanation speed (img/s) of cifar10-9l on random data.",
       joined({{
                   {"batch", "B", "64", "images per call"},
                   {"seconds", "S", "10", "least time of each measurement"},
                   {"only", "all|inference|train|explain", "all", "the measurements to run"},
               },
               threads_flag, device_flag})},
      {"attribute", "--model M (--input X | --image FILE | --data DIR --index I) (--output Y | --picture PNG) [flags]",
       "Writes the maps of the paper's attribution methods for images, as tensors and as a picture.",
       joined({{
                   {"model", "M", required_flag, "the model file"},
                   {"input", "X", "none", "safetensors file with 'images', F32 [N,3,32,32] in [0,1]; or --image, or --data with --index"},
                   {"image", "FILE", "none", "one image (PNG, JPEG, ...; resized to 32x32)"},
                   {"data", "DIR", "none", "the CIFAR-10 data set whose test image --index is attributed"},
                   {"index", "I", "none", "index of the test image"},
                   {"output", "Y", "none", "safetensors file to write: 'targets' and one tensor per method"},
                   {"picture", "PNG", "none", "draw the first image's maps, a row of panels per method"},
                   {"class", "C", "predicted", "explained class 0-9"},
               },
               attribution_method_flags, format_flag, threads_flag, model_override_flags})},
      {"metrics", "--data DIR --model M [flags]",
       "Runs the paper's attribution metrics (localisation, pixel removal), writing CSV files and an HTML report.",
       joined({{
                   {"data", "DIR", required_flag, "the CIFAR-10 data set (its test split is used)"},
                   {"model", "M", required_flag, "the model file"},
                   {"localisation", "", "", "run the localisation metric (with neither switch, both metrics run)"},
                   {"pixel-removal", "", "", "run the pixel-removal metric (with neither switch, both metrics run)"},
                   {"samples", "N", "500", "localisation grids"},
                   {"grid", "2|3", "3", "side of a localisation grid, in images"},
                   {"min-confidence", "P", "0.5", "grids take correctly classified images with sigmoid(logit) above P"},
                   {"images", "N", "1024", "test images of pixel removal"},
                   {"seed", "S", "42", "seed of the grids and of the gallery"},
                   {"gallery", "N", "6", "images shown with their maps in the report"},
                   {"out", "DIR", "metrics", "directory of the CSV files and report.html"},
               },
               attribution_method_flags, format_flag, threads_flag, model_override_flags})},
  };
}

}  // namespace

const flag_info* command_info::find_flag(const std::string& flag) const {
  for (const auto& f : flags)
    if (f.name == flag) return &f;
  return nullptr;
}

const std::vector<command_info>& command_table() {
  static const std::vector<command_info> table = make_table();
  return table;
}

const command_info* find_command(const std::string& name) {
  for (const auto& c : command_table())
    if (c.name == name) return &c;
  return nullptr;
}

}  // namespace cifar
