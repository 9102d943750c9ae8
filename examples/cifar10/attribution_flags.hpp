// Flags shared by `attribute` and `metrics` (listed in command_table.cpp): which attribution
// methods to run and their parameters (the paper's values by default).
#pragma once

#include <coda/attribution/methods.hpp>
#include <vector>

#include "args.hpp"

namespace cifar {

/// The methods named by --method (a comma list), all of them when absent.
std::vector<coda::attribution_method> method_list(const args& a);
/// The methods' parameters from the flags.
coda::attribution_options attribution_flags(const args& a);

}  // namespace cifar
