// Catch2 main for the allocation tests. The binary links examples/common/counting_new.cpp, which
// replaces every global operator new by a counting version: the embedded path must not reach any
// of them once its workspace exists. (Kept out of the main test binary so that the replacement
// affects nothing else.)
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
