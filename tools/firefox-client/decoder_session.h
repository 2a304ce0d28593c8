// One decoder thread doing what Firefox's FFmpegVideoDecoder does with VA-API:
// libavcodec with a VAAPI hw_device_ctx, get_format choosing AV_PIX_FMT_VAAPI,
// one thread, extra_hw_frames; every output frame exported as DRM PRIME 2 and
// handed, with a reference on the AVFrame, to a compositor that holds a few
// and releases them out of order.
#pragma once

#include <va/va.h>

#include <atomic>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "exported_picture.h"
#include "hold_queue.h"
#include "libav_ptr.h"
#include "options.h"
#include "output_hasher.h"
#include "sample_points.h"

namespace firefox_client {

struct DecoderReport {
  uint32_t decoder_id = 0;
  std::string stream;
  uint64_t frames = 0;          // pictures output, exported and read
  uint32_t contexts = 0;        // get_format negotiations that chose VAAPI
  uint32_t complete_passes = 0;
  uint32_t errors = 0;
  uint32_t recoveries = 0;      // --max-decode-errors: flushes to the next keyframe
  std::string first_error;
  std::vector<std::string> frame_md5s;  // --frame-md5
  std::vector<OutputOrderHasher::PassDigest> passes;
};

class DecoderSession {
 public:
  DecoderSession(uint32_t decoder_id, const Options& options, AVBufferRef* device, VADisplay display,
                 std::string stream, SamplePoints& sample_points, std::mutex& output_mutex);

  // Decodes to the end (or to --loop-frames); never throws.
  void Run();

  const DecoderReport& report() const { return report_; }

 private:
  struct HeldPicture {
    FramePtr frame;  // keeps the surface out of libavcodec's pool while shown
    ExportedPicture exported;
    CropRect crop;
    uint64_t index = 0;
    uint32_t pass = 0;
    std::vector<uint8_t> first_read;  // content when first composited
  };

  static AVPixelFormat ChooseVaapiFormat(AVCodecContext* context, const AVPixelFormat* formats);

  bool Decode();  // false: stopped by an error
  bool OpenInput();
  bool ReceiveFrames(bool& reached_limit);
  bool ShowFrame(const AVFrame* frame);
  bool ShowSoftwareFrame(const AVFrame* frame);
  bool Release(HeldPicture picture);
  bool Fail(std::string message);
  // After an error: what Firefox's MediaFormatReader does (flush, skip to
  // the next keyframe), unless errors came too often; false: stop.
  bool Recover();
  bool LimitReached() const { return options_.loop_frames != 0 && report_.frames >= options_.loop_frames; }
  void ArriveAtStartOnce();
  // The "start" sample: the compositor queue is full (hold + 1), and when
  // looping a quarter of the run has passed, so the allocator and the
  // surface pool have reached their steady state.
  uint64_t StartSampleFrame() const {
    const uint64_t queue_full = uint64_t(options_.hold) + 1;
    return options_.loop_frames / 4 > queue_full ? options_.loop_frames / 4 : queue_full;
  }
  void CheckPasses();

  const Options& options_;
  AVBufferRef* device_;
  VADisplay display_;
  SamplePoints& sample_points_;
  std::mutex& output_mutex_;
  DecoderReport report_;

  FormatContextPtr input_;
  CodecContextPtr codec_;
  FramePtr decoded_;
  PacketPtr packet_;
  HoldQueue<HeldPicture> compositor_;
  OutputOrderHasher hasher_;
  uint32_t pass_ = 0;
  bool last_pass_complete_ = false;
  bool arrived_at_start_ = false;
  int consecutive_errors_ = 0;
  bool skipping_to_keyframe_ = false;
};

}  // namespace firefox_client
