#include "log.h"

#include <cstdio>
#include <vector>

#include <va/va_backend.h>

namespace v4l2va {

std::string vformat(const char* fmt, va_list args) {
  va_list copy;
  va_copy(copy, args);
  int n = std::vsnprintf(nullptr, 0, fmt, copy);
  va_end(copy);
  if (n < 0) return fmt;
  std::vector<char> buf(static_cast<size_t>(n) + 1);
  std::vsnprintf(buf.data(), buf.size(), fmt, args);
  return std::string(buf.data(), static_cast<size_t>(n));
}

void Log::errorf(const char* fmt, ...) {
  va_list args;
  va_start(args, fmt);
  std::string line = vformat(fmt, args);
  va_end(args);
  error(line);
}

void Log::infof(const char* fmt, ...) {
  va_list args;
  va_start(args, fmt);
  std::string line = vformat(fmt, args);
  va_end(args);
  info(line);
}

void VaLog::error(const std::string& line) {
  std::string msg = "v4l2_request: " + line + "\n";
  if (ctx_ && ctx_->error_callback)
    ctx_->error_callback(ctx_, msg.c_str());
  else
    std::fputs(msg.c_str(), stderr);
}

void VaLog::info(const std::string& line) {
  std::string msg = "v4l2_request: " + line + "\n";
  if (ctx_ && ctx_->info_callback) ctx_->info_callback(ctx_, msg.c_str());
}

}  // namespace v4l2va
