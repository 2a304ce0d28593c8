// Logging through libva's message callbacks (vaSetErrorCallback /
// vaSetInfoCallback on the client side), so every failure reaches the user
// once, in the client's own log.
#pragma once

#include <cstdarg>
#include <string>

struct VADriverContext;

namespace v4l2va {

// A sink for log lines; the driver routes it to libva's callbacks, tests
// collect the lines to assert on them.
class Log {
 public:
  virtual ~Log() = default;
  virtual void error(const std::string& line) = 0;
  virtual void info(const std::string& line) = 0;

  void errorf(const char* fmt, ...) __attribute__((format(printf, 2, 3)));
  void infof(const char* fmt, ...) __attribute__((format(printf, 2, 3)));
};

// Routes lines to the VADriverContext's error/info callbacks (libva prefixes
// nothing, so each line names the driver).
class VaLog final : public Log {
 public:
  explicit VaLog(VADriverContext* ctx) : ctx_(ctx) {}
  void error(const std::string& line) override;
  void info(const std::string& line) override;

 private:
  VADriverContext* ctx_;
};

std::string vformat(const char* fmt, va_list args);

}  // namespace v4l2va
