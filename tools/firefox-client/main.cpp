// va-firefox-client: decodes H.264 the way Firefox does with VA-API, to show
// that the driver's request slot pool holds under that pattern (docs/firefox.md).

extern "C" {
#include <libavutil/hwcontext.h>
#include <libavutil/hwcontext_vaapi.h>
#include <libavutil/log.h>
}

#include <atomic>
#include <cstdio>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "decoder_session.h"
#include "libav_ptr.h"
#include "options.h"
#include "process_stats.h"
#include "sample_points.h"

namespace firefox_client {
namespace {

std::mutex g_output_mutex;
std::atomic<uint32_t> g_libav_errors{0};
std::atomic<int> g_print_level{AV_LOG_WARNING};

// libavcodec's VAAPI hwaccel and libva (through FFmpeg's error callback)
// report failures only in the log: an error-level message is a failure.
void LogCallback(void* object, int level, const char* format, va_list arguments) {
  if (level > g_print_level.load(std::memory_order_relaxed)) return;
  char line[1024];
  int print_prefix = 1;
  av_log_format_line2(object, level, format, arguments, line, sizeof line, &print_prefix);
  if (level <= AV_LOG_ERROR) g_libav_errors.fetch_add(1, std::memory_order_relaxed);
  std::lock_guard lock(g_output_mutex);
  std::fprintf(stderr, "libav%s: %s", level <= AV_LOG_ERROR ? " error" : "", line);
}

int Run(const Options& options) {
  if (options.verbose) g_print_level = AV_LOG_VERBOSE;
  av_log_set_callback(LogCallback);
  const int fds_before_device = CountOpenFds();

  AVBufferRef* created_device = nullptr;
  // Firefox's CreateVAAPIDeviceContext wraps its own VADisplay on a DRM render
  // node; av_hwdevice_ctx_create does the same for a device path.
  int result = av_hwdevice_ctx_create(&created_device, AV_HWDEVICE_TYPE_VAAPI, options.device.c_str(), nullptr, 0);
  if (result < 0) {
    std::fprintf(stderr, "va-firefox-client: cannot create a VAAPI device on %s: %s\n", options.device.c_str(),
                 AvErrorText(result).c_str());
    return 1;
  }
  BufferPtr device(created_device);
  const auto* device_context = reinterpret_cast<const AVHWDeviceContext*>(device->data);
  VADisplay display = static_cast<const AVVAAPIDeviceContext*>(device_context->hwctx)->display;

  const int fds_before_decoders = CountOpenFds();
  const int64_t rss_before_decoders = ResidentSetKb();

  SamplePoints sample_points(options.decoders);
  std::vector<std::unique_ptr<DecoderSession>> sessions;
  for (uint32_t decoder = 0; decoder < options.decoders; ++decoder) {
    sessions.push_back(std::make_unique<DecoderSession>(decoder, options, device.get(), display,
                                                        options.streams[decoder % options.streams.size()],
                                                        sample_points, g_output_mutex));
  }
  {
    std::vector<std::jthread> threads;
    for (auto& session : sessions) threads.emplace_back([&session] { session->Run(); });
  }

  const int fds_after_decoders = CountOpenFds();
  const int64_t rss_after_decoders = ResidentSetKb();

  uint64_t frames = 0;
  uint32_t errors = g_libav_errors.load();
  uint32_t contexts = 0;
  const bool print_md5 = options.decoders == 1 && options.loop_frames == 0;
  for (const auto& session : sessions) {
    const DecoderReport& report = session->report();
    frames += report.frames;
    errors += report.errors;
    contexts += report.contexts;
    if (!options.md5_only) {
      std::printf("decoder %u stream %s frames %llu contexts %u complete_passes %u pass0_md5 %s errors %u\n",
                  report.decoder_id, report.stream.c_str(), static_cast<unsigned long long>(report.frames),
                  report.contexts, report.complete_passes,
                  report.passes.empty() ? "-" : report.passes[0].md5.c_str(), report.errors);
    }
    if (print_md5 && report.errors == 0 && g_libav_errors.load() == 0 && report.passes.size() == 1)
      std::printf("md5 %s\n", report.passes[0].md5.c_str());
    if (options.decoders == 1)
      for (size_t index = 0; index < report.frame_md5s.size(); ++index)
        std::printf("frame %zu %s\n", index, report.frame_md5s[index].c_str());
    if (options.max_decode_errors >= 0) std::printf("recoveries %u\n", report.recoveries);
  }
  if (!options.md5_only) {
    if (print_md5) std::printf("frames %llu\n", static_cast<unsigned long long>(frames));
    std::printf("contexts %u\n", contexts);
    std::printf("teardown fds_before_device=%d fds_before_decoders=%d fds_after_decoders=%d "
                "rss_before_decoders_kb=%lld rss_after_decoders_kb=%lld\n",
                fds_before_device, fds_before_decoders, fds_after_decoders,
                static_cast<long long>(rss_before_decoders), static_cast<long long>(rss_after_decoders));
    std::printf("frames=%llu errors=%u fds_start=%d fds_end=%d rss_start_kb=%lld rss_end_kb=%lld\n",
                static_cast<unsigned long long>(frames), errors, sample_points.start().open_fds,
                sample_points.end().open_fds, static_cast<long long>(sample_points.start().rss_kb),
                static_cast<long long>(sample_points.end().rss_kb));
  }
  std::fflush(stdout);
  return errors == 0 ? 0 : 1;
}

}  // namespace
}  // namespace firefox_client

int main(int argc, char** argv) {
  firefox_client::Options options;
  const std::string error = firefox_client::ParseOptions(argc, argv, options);
  if (error == "help") {
    std::fputs(firefox_client::UsageText().c_str(), stdout);
    return 0;
  }
  if (!error.empty()) {
    std::fprintf(stderr, "va-firefox-client: %s\n%s", error.c_str(), firefox_client::UsageText().c_str());
    return 2;
  }
  return firefox_client::Run(options);
}
