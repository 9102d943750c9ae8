// Reader and writer of the safetensors format (https://github.com/huggingface/safetensors): an
// 8-byte little-endian header length N, N bytes of JSON giving every tensor's dtype, shape and
// byte range, then the raw little-endian data. The reader is strict: it accepts a file only if
// the byte ranges tile the data section exactly, so that every byte belongs to one tensor, no
// tensor reaches outside the file and no two alias, and it rejects whatever two readers could
// interpret differently (duplicate keys, unknown keys).
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "coda/core/error.hpp"
#include "coda/io/atomic_file.hpp"

// Tensor data is copied between the file and memory byte for byte.
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "coda/io/safetensors.hpp: safetensors data is little-endian; big-endian hosts are not supported"
#endif
static_assert(std::numeric_limits<float>::is_iec559 && std::numeric_limits<double>::is_iec559,
              "coda/io/safetensors.hpp: F32 and F64 are IEEE 754 binary32 and binary64");

namespace coda {

enum class dtype { boolean, u8, i8, i16, u16, i32, u32, i64, u64, f16, bf16, f32, f64, f8_e4m3, f8_e5m2 };

namespace detail {

struct dtype_info {
  dtype type;
  const char* name;
  std::size_t size;
};

/// Indexed by the enum's value.
inline constexpr std::array<dtype_info, 15> dtype_table{{{dtype::boolean, "BOOL", 1},
                                                         {dtype::u8, "U8", 1},
                                                         {dtype::i8, "I8", 1},
                                                         {dtype::i16, "I16", 2},
                                                         {dtype::u16, "U16", 2},
                                                         {dtype::i32, "I32", 4},
                                                         {dtype::u32, "U32", 4},
                                                         {dtype::i64, "I64", 8},
                                                         {dtype::u64, "U64", 8},
                                                         {dtype::f16, "F16", 2},
                                                         {dtype::bf16, "BF16", 2},
                                                         {dtype::f32, "F32", 4},
                                                         {dtype::f64, "F64", 8},
                                                         {dtype::f8_e4m3, "F8_E4M3", 1},
                                                         {dtype::f8_e5m2, "F8_E5M2", 1}}};

constexpr bool dtype_table_matches_enum() {
  for (std::size_t i = 0; i < dtype_table.size(); ++i)
    if (static_cast<std::size_t>(dtype_table[i].type) != i) return false;
  return true;
}
static_assert(dtype_table_matches_enum(), "coda::detail::dtype_table must list the dtypes in the enum's order");

}  // namespace detail

inline std::size_t dtype_size(dtype type) { return detail::dtype_table[static_cast<std::size_t>(type)].size; }

/// The name the format uses, e.g. "F32".
inline const char* dtype_name(dtype type) { return detail::dtype_table[static_cast<std::size_t>(type)].name; }

inline std::optional<dtype> parse_dtype(std::string_view name) {
  for (const detail::dtype_info& info : detail::dtype_table)
    if (name == info.name) return info.type;
  return std::nullopt;
}

/// One tensor of a safetensors file; begin and end are byte offsets into the data section.
struct tensor_entry {
  std::string name;
  dtype type = dtype::f32;
  std::vector<std::int64_t> shape;
  std::size_t begin = 0;
  std::size_t end = 0;

  std::int64_t element_count() const {
    std::int64_t count = 1;
    for (const std::int64_t extent : shape) count *= extent;
    return count;
  }
  std::size_t byte_size() const { return static_cast<std::size_t>(element_count()) * dtype_size(type); }
};

namespace detail {

inline constexpr std::uint64_t max_header_length = 100'000'000;

/// product(shape) * dtype_size, or nullopt when an extent is negative or the element count
/// overflows int64 or the byte length overflows size_t (checked term by term, like the reference
/// implementation, so a later zero extent does not excuse an earlier overflow).
inline std::optional<std::size_t> shape_byte_length(const std::vector<std::int64_t>& shape, dtype type) {
  std::int64_t count = 1;
  for (const std::int64_t extent : shape) {
    if (extent < 0 || (extent != 0 && count > std::numeric_limits<std::int64_t>::max() / extent)) return std::nullopt;
    count *= extent;
  }
  if (static_cast<std::uint64_t>(count) > std::numeric_limits<std::size_t>::max() / dtype_size(type)) return std::nullopt;
  return static_cast<std::size_t>(count) * dtype_size(type);
}

template <class T>
std::string bracketed(const std::vector<T>& values) {
  std::string text = "[";
  for (std::size_t i = 0; i < values.size(); ++i) text += (i == 0 ? "" : ",") + std::to_string(values[i]);
  return text + "]";
}

inline std::string offsets_text(std::size_t begin, std::size_t end) {
  return "[" + std::to_string(begin) + "," + std::to_string(end) + "]";
}

/// The JSON header, after the checks that need nothing but the length field: they run before
/// anything is allocated, so a hostile length cannot cost memory.
inline std::string_view header_text(const std::vector<std::uint8_t>& bytes, const std::string& origin) {
  if (bytes.size() < 8)
    CODA_THROW(format_error(origin + ": the file is " + std::to_string(bytes.size()) +
                       " bytes, too short for the 8-byte header length"));
  std::uint64_t length = 0;
  std::memcpy(&length, bytes.data(), sizeof length);
  if (length > max_header_length)
    CODA_THROW(format_error(origin + ": header length " + std::to_string(length) + " exceeds the limit of " +
                       std::to_string(max_header_length) + " bytes"));
  if (length > bytes.size() - 8)
    CODA_THROW(format_error(origin + ": header length " + std::to_string(length) + " exceeds the " +
                       std::to_string(bytes.size() - 8) + " bytes after the length field (truncated file)"));
  const std::string_view header(reinterpret_cast<const char*>(bytes.data() + 8), static_cast<std::size_t>(length));
  if (header.empty() || header.front() != '{')
    CODA_THROW(format_error(origin + ": the header must be a JSON object and begin with '{'"));
  return header;
}

/// Whitespace after the object (the format pads with spaces) is accepted, as by the reference
/// implementation. nlohmann keeps the last of duplicate keys where other parsers keep the first,
/// so a file with duplicates means different tensors to different readers; the callback rejects
/// them instead.
inline nlohmann::json parse_header_json(std::string_view header, const std::string& origin) {
  using json = nlohmann::json;
  std::vector<std::set<std::string>> open_objects;
  const json::parser_callback_t reject_duplicates = [&](int, json::parse_event_t event, json& parsed) {
    if (event == json::parse_event_t::object_start) open_objects.emplace_back();
    if (event == json::parse_event_t::object_end) open_objects.pop_back();
    if (event == json::parse_event_t::key && !open_objects.back().insert(parsed.get<std::string>()).second)
      CODA_THROW(format_error(origin + ": the header has the duplicate key '" + parsed.get<std::string>() + "'"));
    return true;
  };
  try {
    return json::parse(header.data(), header.data() + header.size(), reject_duplicates);
  } catch (const json::exception& e) {  // parse_error, or out_of_range for a number like 1e999
    CODA_THROW(format_error(origin + ": the header is not valid JSON (" + e.what() + ")"));
  }
}

inline std::map<std::string, std::string> parse_metadata(const nlohmann::json& value, const std::string& origin) {
  const std::string rule = origin + ": __metadata__ must be an object mapping strings to strings";
  if (!value.is_object()) CODA_THROW(format_error(rule));
  std::map<std::string, std::string> metadata;
  for (const auto& item : value.items()) {
    if (!item.value().is_string()) CODA_THROW(format_error(rule + ", but the value of '" + item.key() + "' is not a string"));
    metadata.emplace(item.key(), item.value().get<std::string>());
  }
  return metadata;
}

/// A JSON integer in [0, limit]; floats such as 2.0 and negative numbers do not qualify.
inline std::optional<std::uint64_t> json_unsigned(const nlohmann::json& value, std::uint64_t limit) {
  if (!value.is_number_unsigned() || value.get<std::uint64_t>() > limit) return std::nullopt;
  return value.get<std::uint64_t>();
}

inline dtype entry_dtype(const nlohmann::json& value, const std::string& where) {
  if (!value.is_string()) CODA_THROW(format_error(where + ": dtype must be a string"));
  const std::optional<dtype> type = parse_dtype(value.get_ref<const std::string&>());
  if (!type) CODA_THROW(format_error(where + ": unknown dtype '" + value.get<std::string>() + "'"));
  return *type;
}

inline std::vector<std::int64_t> entry_shape(const nlohmann::json& value, const std::string& where) {
  const std::string rule = where + ": shape must be an array of non-negative integers below 2^63";
  if (!value.is_array()) CODA_THROW(format_error(rule));
  std::vector<std::int64_t> shape;
  for (const nlohmann::json& extent : value) {
    const auto parsed = json_unsigned(extent, static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()));
    if (!parsed) CODA_THROW(format_error(rule + ", got " + value.dump()));
    shape.push_back(static_cast<std::int64_t>(*parsed));
  }
  return shape;
}

inline std::pair<std::size_t, std::size_t> entry_offsets(const nlohmann::json& value, const std::string& where) {
  const std::string rule = where + ": data_offsets must be an array of two non-negative integers";
  if (!value.is_array() || value.size() != 2) CODA_THROW(format_error(rule));
  const auto begin = json_unsigned(value[0], std::numeric_limits<std::size_t>::max());
  const auto end = json_unsigned(value[1], std::numeric_limits<std::size_t>::max());
  if (!begin || !end) CODA_THROW(format_error(rule + ", got " + value.dump()));
  if (*begin > *end) CODA_THROW(format_error(where + ": data_offsets " + value.dump() + " begin after they end"));
  return {static_cast<std::size_t>(*begin), static_cast<std::size_t>(*end)};
}

inline void require_exact_keys(const nlohmann::json& value, const std::string& where) {
  static constexpr std::array<const char*, 3> keys{"dtype", "shape", "data_offsets"};
  if (!value.is_object()) CODA_THROW(format_error(where + ": the entry must be an object with dtype, shape and data_offsets"));
  for (const auto& item : value.items())
    if (std::none_of(keys.begin(), keys.end(), [&](const char* key) { return item.key() == key; }))
      CODA_THROW(format_error(where + ": unexpected key '" + item.key() + "'"));
  for (const char* key : keys)
    if (!value.contains(key)) CODA_THROW(format_error(where + ": missing '" + key + "'"));
}

inline tensor_entry parse_entry(const std::string& name, const nlohmann::json& value, const std::string& origin) {
  if (name.empty()) CODA_THROW(format_error(origin + ": a tensor has an empty name"));
  const std::string where = origin + ": tensor '" + name + "'";
  require_exact_keys(value, where);
  tensor_entry entry{name, entry_dtype(value["dtype"], where), entry_shape(value["shape"], where), 0, 0};
  std::tie(entry.begin, entry.end) = entry_offsets(value["data_offsets"], where);
  const std::string described = "shape " + bracketed(entry.shape) + " of " + dtype_name(entry.type);
  const std::optional<std::size_t> length = shape_byte_length(entry.shape, entry.type);
  if (!length) CODA_THROW(format_error(where + ": the byte length of " + described + " overflows"));
  if (entry.end - entry.begin != *length)
    CODA_THROW(format_error(where + ": data_offsets " + offsets_text(entry.begin, entry.end) + " span " +
                       std::to_string(entry.end - entry.begin) + " bytes but " + described + " needs " +
                       std::to_string(*length)));
  return entry;
}

/// `tensors` sorted by offset must cover [0, data_size) without gap or overlap.
inline void check_tiling(const std::vector<tensor_entry>& tensors, std::size_t data_size, const std::string& origin) {
  std::size_t covered = 0;
  const tensor_entry* previous = nullptr;
  for (const tensor_entry& entry : tensors) {
    const std::string where =
        origin + ": tensor '" + entry.name + "': data_offsets " + offsets_text(entry.begin, entry.end);
    if (entry.begin != covered)
      CODA_THROW(format_error(where + " begin at " + std::to_string(entry.begin) + ", but " +
                         (previous ? "tensor '" + previous->name + "' ends" : std::string("the data section starts")) +
                         " at " + std::to_string(covered) + (entry.begin > covered ? " (gap)" : " (overlap)")));
    if (entry.end > data_size)
      CODA_THROW(format_error(where + " reach past the end of the " + std::to_string(data_size) + "-byte data section"));
    covered = entry.end;
    previous = &entry;
  }
  if (covered != data_size)
    CODA_THROW(format_error(origin + ": the data section has " + std::to_string(data_size) + " bytes but the tensors cover " +
                       std::to_string(covered) + " (trailing bytes)"));
}

/// Whether static_cast<T>(value) is defined and keeps the value's magnitude (integer targets
/// truncate the fraction). The bounds are 0 or powers of two, exact in S; NaN fails both.
template <class T, class S>
bool representable(S value) {
  if constexpr (std::is_integral_v<T>) {
    const S lowest = static_cast<S>(std::numeric_limits<T>::lowest());
    const S past_max = std::ldexp(S(1), std::numeric_limits<T>::digits);
    return value >= lowest && value < past_max;
  } else if constexpr (std::numeric_limits<T>::max() < std::numeric_limits<S>::max()) {
    return !std::isfinite(value) || std::fabs(value) <= std::numeric_limits<T>::max();
  } else {
    return true;
  }
}

/// JSON text must be UTF-8; nlohmann reports bad strings only when the header is written.
inline bool is_utf8(const std::string& text) {
  try {
    (void)nlohmann::json(text).dump();
    return true;
  } catch (const nlohmann::json::type_error&) {
    return false;
  }
}

template <class T>
inline constexpr bool unsupported_value_type = false;

template <class T>
constexpr dtype dtype_of() {
  if constexpr (std::is_same_v<T, float>) return dtype::f32;
  else if constexpr (std::is_same_v<T, double>) return dtype::f64;
  else if constexpr (std::is_same_v<T, std::int64_t>) return dtype::i64;
  else if constexpr (std::is_same_v<T, std::int32_t>) return dtype::i32;
  else if constexpr (std::is_same_v<T, std::uint8_t>) return dtype::u8;
  else
    static_assert(unsupported_value_type<T>,
                  "coda::safetensors_writer::add_values: T must be float, double, std::int64_t, std::int32_t or "
                  "std::uint8_t");
}

}  // namespace detail

/// A whole safetensors file in memory with its validated header.
class safetensors_file {
 public:
  static safetensors_file read(const std::string& path) { return parse(detail::read_file_bytes(path), path); }

  /// Validates `bytes` as a safetensors file; `origin` starts every error message.
  static safetensors_file parse(std::vector<std::uint8_t> bytes, const std::string& origin) {
    safetensors_file file;
    file.origin_ = origin;
    const std::string_view header = detail::header_text(bytes, origin);
    file.data_start_ = 8 + header.size();
    const nlohmann::json json = detail::parse_header_json(header, origin);
    for (const auto& item : json.items()) {
      if (item.key() == "__metadata__")
        file.metadata_ = detail::parse_metadata(item.value(), origin);
      else
        file.tensors_.push_back(detail::parse_entry(item.key(), item.value(), origin));
    }
    std::sort(file.tensors_.begin(), file.tensors_.end(), [](const tensor_entry& a, const tensor_entry& b) {
      return std::tie(a.begin, a.end, a.name) < std::tie(b.begin, b.end, b.name);
    });
    detail::check_tiling(file.tensors_, bytes.size() - file.data_start_, origin);
    for (std::size_t i = 0; i < file.tensors_.size(); ++i) file.by_name_.emplace(file.tensors_[i].name, i);
    file.bytes_ = std::move(bytes);
    return file;
  }

  const std::string& origin() const { return origin_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  /// Sorted by begin offset.
  const std::vector<tensor_entry>& tensors() const { return tensors_; }

  /// nullptr when the file has no tensor of that name.
  const tensor_entry* find(std::string_view name) const {
    const auto it = by_name_.find(name);
    return it == by_name_.end() ? nullptr : &tensors_[it->second];
  }

  /// The tensor's raw little-endian bytes; not aligned to anything in general, so read them with
  /// memcpy (or copy_to).
  const std::uint8_t* data(const tensor_entry& entry) const { return bytes_.data() + data_start_ + own(entry).begin; }

  /// Converts the F32 or F64 elements of `entry` to T into `out` (element_count() values).
  /// Integer targets truncate; a value outside T's range is a format_error, not undefined behaviour.
  template <class T>
  void copy_to(const tensor_entry& entry, T* out) const {
    static_assert(std::is_arithmetic_v<T> && !std::is_same_v<T, bool>,
                  "coda::safetensors_file::copy_to: T must be a floating-point or integer type");
    if (entry.type == dtype::f32)
      convert_elements<float>(own(entry), out);
    else if (entry.type == dtype::f64)
      convert_elements<double>(own(entry), out);
    else
      CODA_THROW(format_error(origin_ + ": tensor '" + entry.name + "' has dtype " + dtype_name(entry.type) +
                         ", but copy_to converts only F32 and F64"));
  }

 private:
  safetensors_file() = default;

  /// This file's entry equal to `entry`: offsets from another file must not index this one.
  const tensor_entry& own(const tensor_entry& entry) const {
    const tensor_entry* mine = find(entry.name);
    CODA_REQUIRE(mine && mine->type == entry.type && mine->shape == entry.shape && mine->begin == entry.begin &&
                     mine->end == entry.end,
                 origin_ + ": tensor '" + entry.name + "' is not an entry of this file");
    return *mine;
  }

  template <class Stored, class T>
  void convert_elements(const tensor_entry& entry, T* out) const {
    const std::uint8_t* source = bytes_.data() + data_start_ + entry.begin;
    const std::size_t count = (entry.end - entry.begin) / sizeof(Stored);
    for (std::size_t i = 0; i < count; ++i) {
      Stored value;
      std::memcpy(&value, source + i * sizeof(Stored), sizeof(Stored));
      if (!detail::representable<T>(value))
        CODA_THROW(format_error(origin_ + ": tensor '" + entry.name + "': element " + std::to_string(i) + " (" +
                           std::to_string(value) + ") is out of range of the requested type"));
      out[i] = static_cast<T>(value);
    }
  }

  std::vector<std::uint8_t> bytes_;
  std::size_t data_start_ = 0;
  std::string origin_;
  std::map<std::string, std::string> metadata_;
  std::vector<tensor_entry> tensors_;
  std::map<std::string, std::size_t, std::less<>> by_name_;
};

/// Collects tensors and metadata and writes them as one safetensors file.
class safetensors_writer {
 public:
  /// Copies `bytes` bytes of little-endian data, which must be exactly product(shape) elements of `type`.
  void add(std::string name, dtype type, std::vector<std::int64_t> shape, const void* data, std::size_t bytes) {
    check_name(name);
    const std::size_t needed = byte_length(name, type, shape);
    CODA_REQUIRE(bytes == needed, "coda::safetensors_writer: tensor '" + name + "' has " + std::to_string(bytes) +
                                      " bytes but shape " + detail::bracketed(shape) + " of " + dtype_name(type) +
                                      " needs " + std::to_string(needed));
    CODA_REQUIRE(data != nullptr || bytes == 0, "coda::safetensors_writer: tensor '" + name + "' has no data");
    const std::size_t begin = data_.size();
    const auto* first = static_cast<const std::uint8_t*>(data);
    data_.insert(data_.end(), first, first + bytes);
    names_.insert(name);
    entries_.push_back({std::move(name), type, std::move(shape), begin, data_.size()});
  }

  /// add() with the dtype taken from T: float F32, double F64, int64 I64, int32 I32, uint8 U8.
  template <class T>
  void add_values(std::string name, std::vector<std::int64_t> shape, const T* values) {
    constexpr dtype type = detail::dtype_of<T>();
    const std::size_t bytes = byte_length(name, type, shape);
    add(std::move(name), type, std::move(shape), values, bytes);
  }

  /// Sets (or replaces) one `__metadata__` entry.
  void set_metadata(std::string key, std::string value) {
    CODA_REQUIRE(detail::is_utf8(key) && detail::is_utf8(value),
                 "coda::safetensors_writer: metadata key and value must be valid UTF-8");
    metadata_.insert_or_assign(std::move(key), std::move(value));
  }

  /// The file's bytes: tensors in insertion order, their data contiguous.
  std::vector<std::uint8_t> serialize() const {
    nlohmann::ordered_json header = nlohmann::ordered_json::object();
    if (!metadata_.empty()) header["__metadata__"] = metadata_;
    for (const tensor_entry& e : entries_)
      header[e.name] = {{"dtype", dtype_name(e.type)}, {"shape", e.shape}, {"data_offsets", {e.begin, e.end}}};
    std::string text = header.dump();
    // Space padding to a multiple of 8 puts the data section at an 8-byte aligned file offset,
    // so that readers which map the file can use F64 and I64 tensors in place.
    text.append((8 - text.size() % 8) % 8, ' ');
    const std::uint64_t length = text.size();
    std::vector<std::uint8_t> bytes(sizeof length);
    std::memcpy(bytes.data(), &length, sizeof length);
    bytes.reserve(bytes.size() + text.size() + data_.size());
    bytes.insert(bytes.end(), text.begin(), text.end());
    bytes.insert(bytes.end(), data_.begin(), data_.end());
    return bytes;
  }

  /// Replaces `path` atomically (see write_file_atomically).
  void write(const std::string& path) const {
    const std::vector<std::uint8_t> bytes = serialize();
    write_file_atomically(path, bytes.data(), bytes.size());
  }

 private:
  void check_name(const std::string& name) const {
    CODA_REQUIRE(!name.empty(), "coda::safetensors_writer: a tensor name must not be empty");
    CODA_REQUIRE(name != "__metadata__", "coda::safetensors_writer: '__metadata__' is reserved, not a tensor name");
    CODA_REQUIRE(names_.count(name) == 0, "coda::safetensors_writer: duplicate tensor name '" + name + "'");
    CODA_REQUIRE(detail::is_utf8(name), "coda::safetensors_writer: tensor names must be valid UTF-8");
  }

  static std::size_t byte_length(const std::string& name, dtype type, const std::vector<std::int64_t>& shape) {
    const std::optional<std::size_t> length = detail::shape_byte_length(shape, type);
    CODA_REQUIRE(length.has_value(), "coda::safetensors_writer: tensor '" + name + "': shape " +
                                         detail::bracketed(shape) + " has a negative extent or its byte length overflows");
    return *length;
  }

  std::vector<tensor_entry> entries_;
  std::set<std::string> names_;
  std::map<std::string, std::string> metadata_;
  std::vector<std::uint8_t> data_;
};

}  // namespace coda
