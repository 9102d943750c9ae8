// The exception-free interface of the embedded path: try_predict (declared in
// coda/nn/inference.hpp), try_explain and try_explain_all (coda/attribution/contributions.hpp),
// each beside its throwing twin and validating with the same routine (finite pixels, class
// index, workspace) before running the allocation-free kernels. They report problems as a
// coda::result (coda/core/status.hpp) with a message instead of an exception, so they can be
// used from code built with -fno-exceptions (where the rest of the library reports errors by
// printing and aborting, see CODA_THROW) or from code that must not let exceptions cross its
// boundary. These headers compile without exceptions; file I/O (coda/io/) needs them, so a
// -fno-exceptions application obtains its parameters another way (e.g. compiled in) and hands
// them to network::update_parameters.
#pragma once

#include "coda/attribution/contributions.hpp"
#include "coda/core/status.hpp"
