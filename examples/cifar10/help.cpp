#include "help.hpp"

#include <algorithm>
#include <sstream>

namespace cifar {

namespace {

/// `text` followed by spaces up to `width` characters, and two more to separate the columns.
std::string column(const std::string& text, std::size_t width) { return text + std::string(width - text.size() + 2, ' '); }

std::string flag_text(const flag_info& f) { return "--" + f.name + (f.takes_value() ? " " + f.placeholder : ""); }

std::string default_text(const flag_info& f) {
  if (!f.takes_value()) return "off";
  if (f.is_required()) return required_flag;
  return "default " + f.fallback;
}

}  // namespace

std::string overview_help() {
  std::size_t width = 0;
  for (const auto& c : command_table()) width = std::max(width, c.name.size());
  std::ostringstream s;
  s << "usage: coda-cifar10 <command> [flags]\n\ncommands:\n";
  for (const auto& c : command_table()) s << "  " << column(c.name, width) << c.summary << "\n";
  s << "\n'coda-cifar10 help <command>' or 'coda-cifar10 <command> --help' lists the flags of a command.\n"
       "'coda-cifar10 --version' prints the version. The full contract is in docs/cli.md.\n";
  return s.str();
}

std::string command_help(const command_info& command) {
  std::size_t flag_width = 0, default_width = 0;
  for (const auto& f : command.flags) {
    flag_width = std::max(flag_width, flag_text(f).size());
    default_width = std::max(default_width, default_text(f).size());
  }
  std::ostringstream s;
  s << "usage: coda-cifar10 " << command.name << " " << command.synopsis << "\n\n" << command.summary << "\n\nflags:\n";
  for (const auto& f : command.flags)
    s << "  " << column(flag_text(f), flag_width) << column(default_text(f), default_width) << f.description << "\n";
  s << "\nThe full contract is in docs/cli.md.\n";
  return s.str();
}

}  // namespace cifar
