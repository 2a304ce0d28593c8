// Test helpers for tests that run against the emulated decoder (the test
// binary runs with the emulator preloaded; see tests/driver/meson.build).
#pragma once

#include <dirent.h>

#include <string>
#include <vector>

#include "log.h"

namespace v4l2va::test {

// Collects log lines so tests can assert on what the driver reported.
class CollectingLog final : public Log {
 public:
  void error(const std::string& line) override { errors.push_back(line); }
  void info(const std::string& line) override { infos.push_back(line); }
  std::vector<std::string> errors;
  std::vector<std::string> infos;
};

inline int open_fd_count() {
  int n = 0;
  if (DIR* d = opendir("/proc/self/fd")) {
    while (readdir(d)) ++n;
    closedir(d);
  }
  return n;
}

}  // namespace v4l2va::test
