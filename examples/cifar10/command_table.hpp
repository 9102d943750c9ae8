// The commands of coda-cifar10 and the flags each one accepts. One table serves both the parser
// (args.cpp refuses any flag a command's entry does not list, and takes defaults from it) and the
// help (help.cpp prints it), so the two cannot disagree: adding a flag to a command is one line in
// its list in command_table.cpp, plus the code that reads it.
#pragma once

#include <string>
#include <vector>

namespace cifar {

/// The default text of a flag that every run of the command must give.
inline const std::string required_flag = "required";

struct flag_info {
  std::string name;         ///< without the leading "--"
  std::string placeholder;  ///< the value's name in the help ("B", "squash|l2"); empty for a switch
  /// What applies when the flag is absent: a value as it would be typed ("8", "auto"), which the
  /// parser then uses as the default (args::integer and friends without a fallback argument);
  /// words ("all cores", "the model's") where the code works the default out itself; or
  /// required_flag. Unused for switches, which are off when absent.
  std::string fallback;
  std::string description;  ///< a short phrase for the help

  bool takes_value() const { return !placeholder.empty(); }
  bool is_required() const { return fallback == required_flag; }
};

struct command_info {
  std::string name;
  std::string synopsis;  ///< what follows the command's name on the usage line
  std::string summary;   ///< one sentence
  std::vector<flag_info> flags;

  /// The entry of flag `name` (without "--"), or nullptr when the command has no such flag.
  const flag_info* find_flag(const std::string& name) const;
};

/// Every command, in the order the help lists them.
const std::vector<command_info>& command_table();
/// The command called `name`, or nullptr.
const command_info* find_command(const std::string& name);

}  // namespace cifar
