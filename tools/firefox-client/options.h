// Command line of va-firefox-client.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace firefox_client {

struct Options {
  std::string device = "/dev/dri/renderD128";
  uint32_t hold = 4;               // pictures the "compositor" keeps exported
  uint32_t shuffle_seed = 1;       // 0: release in order
  uint64_t loop_frames = 0;        // 0: each stream once; else frames per decoder
  uint32_t decoders = 1;           // decoder threads on the one VADisplay
  bool md5_only = false;           // print only the `md5` lines
  int extra_hw_frames = -1;        // -1: max(6, hold)
  uint64_t report_every = 0;       // 0: no progress lines
  bool strict_profile = false;     // Firefox's rule: no profile mismatch
  bool verbose = false;            // libav/libva messages down to AV_LOG_VERBOSE
  bool frame_md5 = false;          // print `frame <index> <md5>` per output picture
  // Firefox's MediaFormatReader on a decode error: flush, skip to the next
  // keyframe, give up after more than this many errors in a row
  // (media.video-max-decode-error, 2 in release builds). -1: stop at the
  // first error.
  int max_decode_errors = -1;
  // Firefox's software path instead (libavcodec without VA-API, same error
  // recovery): the reference for what the client outputs from a damaged stream.
  bool software = false;
  std::vector<std::string> streams;

  int EffectiveExtraHwFrames() const {
    return extra_hw_frames >= 0 ? extra_hw_frames : int(hold > 6 ? hold : 6);
  }
};

// Parses argv into `options`; returns an error text, empty on success.
std::string ParseOptions(int argc, const char* const* argv, Options& options);

std::string UsageText();

}  // namespace firefox_client
