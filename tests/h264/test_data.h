// Test helpers: conformance streams (Annex B) and the expectations table
// derived from FFmpeg's trace_headers (gen_slice_expectations.py).
#pragma once

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace v4l2va::h264::test {

inline std::string env_or(const char* name, const std::string& fallback) {
  const char* value = std::getenv(name);
  return value != nullptr ? std::string(value) : fallback;
}

inline std::vector<uint8_t> read_file(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>()};
}

// NAL units of an Annex B byte stream, without start codes and without the
// trailing_zero_8bits that precede the next start code.
inline std::vector<std::vector<uint8_t>> split_annex_b(const std::vector<uint8_t>& stream) {
  std::vector<size_t> starts;  // first byte after each 00 00 01
  for (size_t i = 0; i + 2 < stream.size(); ++i) {
    if (stream[i] == 0 && stream[i + 1] == 0 && stream[i + 2] == 1) {
      starts.push_back(i + 3);
      i += 2;
    }
  }
  std::vector<std::vector<uint8_t>> nals;
  for (size_t n = 0; n < starts.size(); ++n) {
    size_t end = n + 1 < starts.size() ? starts[n + 1] - 3 : stream.size();
    while (end > starts[n] && stream[end - 1] == 0) --end;
    nals.emplace_back(stream.begin() + static_cast<std::ptrdiff_t>(starts[n]),
                      stream.begin() + static_cast<std::ptrdiff_t>(end));
  }
  return nals;
}

inline std::vector<std::vector<uint8_t>> slice_nals(const std::vector<uint8_t>& stream) {
  std::vector<std::vector<uint8_t>> slices;
  for (auto& nal : split_annex_b(stream)) {
    const unsigned type = nal.empty() ? 0 : nal[0] & 0x1f;
    if (type == 1 || type == 5) slices.push_back(std::move(nal));
  }
  return slices;
}

using Row = std::map<std::string, std::string>;

inline std::vector<Row> read_tsv(const std::string& path) {
  std::ifstream file(path);
  std::string line;
  std::vector<std::string> columns;
  std::vector<Row> rows;
  while (std::getline(file, line)) {
    std::vector<std::string> cells;
    std::stringstream stream(line);
    std::string cell;
    while (std::getline(stream, cell, '\t')) cells.push_back(cell);
    if (columns.empty()) {
      columns = cells;
      continue;
    }
    Row row;
    for (size_t i = 0; i < columns.size() && i < cells.size(); ++i) row[columns[i]] = cells[i];
    rows.push_back(std::move(row));
  }
  return rows;
}

inline long cell(const Row& row, const std::string& column) { return std::stol(row.at(column)); }

inline std::string conformance_dir() { return env_or("CONFORMANCE_DIR", "../shared/conformance/h264"); }
inline std::string expectations_path() {
  return env_or("H264_TEST_DATA", "tests/h264/data") + "/slice_headers.tsv";
}

}  // namespace v4l2va::h264::test
