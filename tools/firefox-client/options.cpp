#include "options.h"

#include <charconv>
#include <cstring>
#include <string_view>

namespace firefox_client {
namespace {

template <typename Number>
bool ParseNumber(std::string_view text, Number& value) {
  if (text.empty()) return false;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  return error == std::errc() && end == text.data() + text.size();
}

}  // namespace

std::string UsageText() {
  return "usage: va-firefox-client [--device /dev/dri/renderD128] [--hold N (default 4)]\n"
         "         [--shuffle-seed S (default 1; 0 releases in order)] [--loop-frames N]\n"
         "         [--decoders K (1-4)] [--extra-hw-frames N] [--report-every N] [--md5-only] [--verbose]\n"
         "         [--strict-profile] [--frame-md5] [--max-decode-errors N] [--software]\n"
         "         STREAM [STREAM...]\n"
         "Decodes H.264 streams the way Firefox's FFmpeg VA-API decoder does: every frame\n"
         "exported as DRM PRIME 2 (separate layers, read-only), held by a simulated\n"
         "compositor and released out of order, its content read through the dma-bufs.\n"
         "Decoder i decodes STREAM[i % count]. Prints `md5 <hex>` per decoder for a\n"
         "single-decoder run without --loop-frames, and a `frames=... errors=...` summary.\n"
         "--frame-md5 adds `frame <index> <md5>` per output picture (single decoder).\n"
         "--software decodes with libavcodec alone (Firefox's software path, same recovery).\n"
         "--max-decode-errors N recovers from decode errors as Firefox does: flush, skip to\n"
         "the next keyframe, stop after more than N errors in a row (Firefox release: 2).\n";
}

std::string ParseOptions(int argc, const char* const* argv, Options& options) {
  options = Options{};
  for (int i = 1; i < argc; ++i) {
    const std::string_view argument = argv[i];
    auto value = [&](std::string_view& out) -> bool {
      if (i + 1 >= argc) return false;
      out = argv[++i];
      return true;
    };
    std::string_view text;
    if (argument == "--device") {
      if (!value(text)) return "--device needs a path";
      options.device = std::string(text);
    } else if (argument == "--hold") {
      if (!value(text) || !ParseNumber(text, options.hold)) return "--hold needs a number";
    } else if (argument == "--shuffle-seed") {
      if (!value(text) || !ParseNumber(text, options.shuffle_seed)) return "--shuffle-seed needs a number";
    } else if (argument == "--loop-frames") {
      if (!value(text) || !ParseNumber(text, options.loop_frames)) return "--loop-frames needs a number";
    } else if (argument == "--decoders") {
      if (!value(text) || !ParseNumber(text, options.decoders) || options.decoders < 1 || options.decoders > 4)
        return "--decoders needs a number from 1 to 4";
    } else if (argument == "--extra-hw-frames") {
      if (!value(text) || !ParseNumber(text, options.extra_hw_frames) || options.extra_hw_frames < 0)
        return "--extra-hw-frames needs a number";
    } else if (argument == "--report-every") {
      if (!value(text) || !ParseNumber(text, options.report_every)) return "--report-every needs a number";
    } else if (argument == "--max-decode-errors") {
      if (!value(text) || !ParseNumber(text, options.max_decode_errors) || options.max_decode_errors < 0)
        return "--max-decode-errors needs a number";
    } else if (argument == "--frame-md5") {
      options.frame_md5 = true;
    } else if (argument == "--software") {
      options.software = true;
    } else if (argument == "--strict-profile") {
      options.strict_profile = true;
    } else if (argument == "--verbose") {
      options.verbose = true;
    } else if (argument == "--md5-only") {
      options.md5_only = true;
    } else if (argument == "--help" || argument == "-h") {
      return "help";
    } else if (argument.starts_with("--")) {
      return "unknown option " + std::string(argument);
    } else {
      options.streams.emplace_back(argument);
    }
  }
  if (options.streams.empty()) return "no stream given";
  return {};
}

}  // namespace firefox_client
