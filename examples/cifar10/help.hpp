// The help of coda-cifar10, printed from the command table (command_table.hpp), so that it lists
// exactly the flags the parser accepts, with the defaults the code uses.
#pragma once

#include <string>

#include "command_table.hpp"

namespace cifar {

/// `coda-cifar10 help`: every command with its summary, and where to read more.
std::string overview_help();
/// `coda-cifar10 help <command>`: the usage line, the summary and every flag of `command` with
/// its value, its default and a description.
std::string command_help(const command_info& command);

}  // namespace cifar
