// A lower layer reaching up: the include-graph check must reject this tree.
#pragma once
#include "coda/attribution/method.hpp"
