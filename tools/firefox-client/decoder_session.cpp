#include "decoder_session.h"

#include <cstdio>

extern "C" {
#include <libavutil/pixdesc.h>
}

namespace firefox_client {

DecoderSession::DecoderSession(uint32_t decoder_id, const Options& options, AVBufferRef* device,
                               VADisplay display, std::string stream, SamplePoints& sample_points,
                               std::mutex& output_mutex)
    : options_(options),
      device_(device),
      display_(display),
      sample_points_(sample_points),
      output_mutex_(output_mutex),
      // Each decoder gets its own release order, reproducible from the seed.
      compositor_(options.hold, options.shuffle_seed == 0 ? 0 : options.shuffle_seed + decoder_id) {
  if (options.frame_md5) hasher_.KeepFrameDigests();
  report_.decoder_id = decoder_id;
  report_.stream = std::move(stream);
}

bool DecoderSession::Fail(std::string message) {
  ++report_.errors;
  if (report_.first_error.empty()) report_.first_error = message;
  std::lock_guard lock(output_mutex_);
  std::fprintf(stderr, "va-firefox-client: decoder %u (%s): %s\n", report_.decoder_id, report_.stream.c_str(),
               message.c_str());
  return false;
}

bool DecoderSession::Recover() {
  if (options_.max_decode_errors < 0) return false;
  if (++consecutive_errors_ > options_.max_decode_errors) {
    Fail(std::to_string(consecutive_errors_) + " decode errors in a row: decoding stops (as Firefox's " +
         "media.video-max-decode-error)");
    return false;
  }
  // MediaFormatReader: DecodeError -> InternalSeek / VideoSkip to the next
  // random access point; the decoder is flushed.
  avcodec_flush_buffers(codec_.get());
  skipping_to_keyframe_ = true;
  ++report_.recoveries;
  return true;
}

AVPixelFormat DecoderSession::ChooseVaapiFormat(AVCodecContext* context, const AVPixelFormat* formats) {
  auto* session = static_cast<DecoderSession*>(context->opaque);
  for (const AVPixelFormat* format = formats; *format != AV_PIX_FMT_NONE; ++format) {
    if (*format == AV_PIX_FMT_VAAPI) {
      // libavcodec creates a new VA config and context after each VAAPI choice.
      ++session->report_.contexts;
      return AV_PIX_FMT_VAAPI;
    }
  }
  // Firefox would fall back to software here; for this client that is a failure.
  session->Fail("get_format was not offered AV_PIX_FMT_VAAPI (hwaccel unavailable)");
  return AV_PIX_FMT_NONE;
}

bool DecoderSession::OpenInput() {
  input_.reset();
  AVFormatContext* opened = nullptr;
  // The conformance streams are raw Annex B H.264 whatever their extension.
  const int result = avformat_open_input(&opened, report_.stream.c_str(), av_find_input_format("h264"), nullptr);
  if (result < 0) return Fail("cannot open " + report_.stream + ": " + AvErrorText(result));
  input_.reset(opened);
  // Once, before the decoder exists: what a container tells Firefox up front
  // (picture size, reorder depth). Without the reorder depth libavcodec's
  // H.264 decoder discovers B-frame delay late and drops pictures.
  if (!codec_) {
    if (int info = avformat_find_stream_info(input_.get(), nullptr); info < 0)
      return Fail("avformat_find_stream_info: " + AvErrorText(info));
  }
  if (input_->nb_streams < 1 || input_->streams[0]->codecpar->codec_type != AVMEDIA_TYPE_VIDEO)
    return Fail("no video stream in " + report_.stream);
  return true;
}

void DecoderSession::ArriveAtStartOnce() {
  if (arrived_at_start_) return;
  arrived_at_start_ = true;
  sample_points_.ArriveAtStart();
}

void DecoderSession::Run() {
  decoded_.reset(av_frame_alloc());
  packet_.reset(av_packet_alloc());
  if (!decoded_ || !packet_) {
    Fail("out of memory");
  } else {
    Decode();
  }
  // Every decoder passes both sample points, even after an error, or the
  // others would wait for it forever.
  ArriveAtStartOnce();
  sample_points_.ArriveAtEnd();

  while (auto picture = compositor_.TakeOne()) Release(std::move(*picture));
  if (std::string error = hasher_.Finish(); !error.empty()) Fail(error);
  report_.passes = hasher_.passes();
  report_.frame_md5s = hasher_.frame_digests();
  CheckPasses();
  codec_.reset();
  input_.reset();
}

bool DecoderSession::Decode() {
  if (!OpenInput()) return false;
  const AVCodec* codec = avcodec_find_decoder(AV_CODEC_ID_H264);
  if (codec == nullptr) return Fail("libavcodec has no H.264 decoder");
  codec_.reset(avcodec_alloc_context3(codec));
  if (!codec_) return Fail("avcodec_alloc_context3 failed");
  if (int result = avcodec_parameters_to_context(codec_.get(), input_->streams[0]->codecpar); result < 0)
    return Fail("avcodec_parameters_to_context: " + AvErrorText(result));
  // As Firefox's InitHWCodecContext: one decoding thread, our get_format, a
  // few surfaces beyond the DPB for frames the compositor holds.
  codec_->opaque = this;
  codec_->thread_count = 1;
  if (!options_.software) {
    codec_->get_format = &DecoderSession::ChooseVaapiFormat;
    codec_->extra_hw_frames = options_.EffectiveExtraHwFrames();
  }
  // Firefox leaves this off, so it decodes a Baseline (not Constrained
  // Baseline) stream in software; the conformance set has one, and VA has no
  // Baseline profile to offer, so decode it with the closest one, as the
  // conformance runner's ffmpeg does. --strict-profile restores Firefox's rule.
  if (!options_.strict_profile) codec_->hwaccel_flags |= AV_HWACCEL_FLAG_ALLOW_PROFILE_MISMATCH;
  if (!options_.software) {
    codec_->hw_device_ctx = av_buffer_ref(device_);
    if (codec_->hw_device_ctx == nullptr) return Fail("av_buffer_ref of the VAAPI device failed");
  }
  if (int result = avcodec_open2(codec_.get(), codec, nullptr); result < 0)
    return Fail("avcodec_open2: " + AvErrorText(result));

  for (;;) {
    bool reached_limit = false;
    const uint64_t frames_before_pass = report_.frames;
    int read_result;
    while ((read_result = av_read_frame(input_.get(), packet_.get())) >= 0) {
      if (skipping_to_keyframe_ && !(packet_->flags & AV_PKT_FLAG_KEY)) {
        av_packet_unref(packet_.get());
        continue;
      }
      skipping_to_keyframe_ = false;
      const int send_result = avcodec_send_packet(codec_.get(), packet_.get());
      av_packet_unref(packet_.get());
      if (send_result < 0 && send_result != AVERROR(EAGAIN)) {
        Fail("avcodec_send_packet: " + AvErrorText(send_result));
        if (Recover()) continue;
        return false;
      }
      if (!ReceiveFrames(reached_limit)) {
        if (Recover()) continue;
        return false;
      }
      if (reached_limit) return true;
    }
    if (read_result != AVERROR_EOF) return Fail("av_read_frame: " + AvErrorText(read_result));

    // End of stream: drain the delayed pictures, as Firefox's ProcessDrain does.
    if (int result = avcodec_send_packet(codec_.get(), nullptr); result < 0)
      return Fail("avcodec_send_packet(drain): " + AvErrorText(result));
    if (!ReceiveFrames(reached_limit)) return false;
    // Stopped inside the drain: whether more pictures were due is unknown, so
    // this pass counts as partial.
    if (reached_limit) return true;
    last_pass_complete_ = true;
    if (report_.frames == frames_before_pass) return Fail("a pass over the stream output no picture");
    if (options_.loop_frames == 0) return true;

    // Loop: what a <video loop> does at the end, a seek to the start:
    // Firefox flushes the decoder and the demuxer starts over.
    avcodec_flush_buffers(codec_.get());
    if (!OpenInput()) return false;
    ++pass_;
    last_pass_complete_ = false;
  }
}

bool DecoderSession::ReceiveFrames(bool& reached_limit) {
  for (;;) {
    const int result = avcodec_receive_frame(codec_.get(), decoded_.get());
    if (result == AVERROR(EAGAIN) || result == AVERROR_EOF) return true;
    if (result < 0) return Fail("avcodec_receive_frame: " + AvErrorText(result));
    const bool shown = ShowFrame(decoded_.get());
    av_frame_unref(decoded_.get());
    if (!shown) return false;
    if (LimitReached()) {
      reached_limit = true;
      return true;
    }
  }
}

// The software path: the picture as libavcodec output it (cropped), packed
// as I420 like the exported ones (monochrome chroma as 128).
bool DecoderSession::ShowSoftwareFrame(const AVFrame* frame) {
  const bool gray = frame->format == AV_PIX_FMT_GRAY8;
  if (frame->format != AV_PIX_FMT_YUV420P && frame->format != AV_PIX_FMT_YUVJ420P && !gray)
    return Fail(std::string("software frame in an unexpected format ") + av_get_pix_fmt_name(AVPixelFormat(frame->format)));
  const int w = frame->width, h = frame->height, cw = (w + 1) / 2, ch = (h + 1) / 2;
  std::vector<uint8_t> packed;
  packed.reserve(size_t(w) * h + 2 * size_t(cw) * ch);
  for (int y = 0; y < h; ++y) packed.insert(packed.end(), frame->data[0] + y * frame->linesize[0], frame->data[0] + y * frame->linesize[0] + w);
  for (int plane = 1; plane <= 2; ++plane) {
    for (int y = 0; y < ch; ++y) {
      if (gray) {
        packed.insert(packed.end(), size_t(cw), uint8_t{128});
        continue;
      }
      const uint8_t* row = frame->data[plane] + y * frame->linesize[plane];
      packed.insert(packed.end(), row, row + cw);
    }
  }
  consecutive_errors_ = 0;
  if (std::string error = hasher_.Add(report_.frames++, pass_, std::move(packed)); !error.empty()) return Fail(error);
  return true;
}

bool DecoderSession::ShowFrame(const AVFrame* frame) {
  if (options_.software) return ShowSoftwareFrame(frame);
  if (frame->format != AV_PIX_FMT_VAAPI) return Fail("libavcodec output a software frame: no VA-API decoding");
  HeldPicture picture;
  picture.frame.reset(av_frame_clone(frame));
  if (!picture.frame) return Fail("av_frame_clone failed");
  const auto surface = static_cast<VASurfaceID>(reinterpret_cast<uintptr_t>(frame->data[3]));
  if (std::string error = picture.exported.Export(display_, surface); !error.empty()) return Fail(error);

  // libavcodec applies right/bottom cropping to hardware frames by shrinking
  // width/height; left/top stay in the crop fields.
  picture.crop.left = uint32_t(frame->crop_left);
  picture.crop.top = uint32_t(frame->crop_top);
  picture.crop.width = uint32_t(frame->width) - uint32_t(frame->crop_left + frame->crop_right);
  picture.crop.height = uint32_t(frame->height) - uint32_t(frame->crop_top + frame->crop_bottom);
  if (std::string error = picture.exported.ReadPackedI420(picture.crop, picture.first_read); !error.empty())
    return Fail(error);
  picture.index = report_.frames++;
  picture.pass = pass_;
  consecutive_errors_ = 0;

  std::optional<HeldPicture> released = compositor_.Push(std::move(picture));
  if (released && !Release(std::move(*released))) return false;

  if (report_.frames == StartSampleFrame()) ArriveAtStartOnce();
  if (options_.report_every != 0 && report_.frames % options_.report_every == 0) {
    const int fds = CountOpenFds();
    const int64_t rss = ResidentSetKb();
    std::lock_guard lock(output_mutex_);
    std::fprintf(stderr, "progress decoder=%u frames=%llu open_fds=%d rss_kb=%lld\n", report_.decoder_id,
                 static_cast<unsigned long long>(report_.frames), fds, static_cast<long long>(rss));
  }
  return true;
}

bool DecoderSession::Release(HeldPicture picture) {
  // The compositor's last look: the picture must not have changed while it
  // was exported (a surface reused by the decoder too early would).
  std::vector<uint8_t> last_read;
  last_read.reserve(picture.first_read.size());
  if (std::string error = picture.exported.ReadPackedI420(picture.crop, last_read); !error.empty())
    return Fail(error);
  if (last_read != picture.first_read)
    return Fail("output picture " + std::to_string(picture.index) + " changed while it was exported");
  if (std::string error = hasher_.Add(picture.index, picture.pass, std::move(picture.first_read)); !error.empty())
    return Fail(error);
  return true;  // `picture` goes: mappings, fds, then the frame reference
}

void DecoderSession::CheckPasses() {
  // Complete passes are the same pictures in the same order, so the same MD5.
  size_t complete = report_.passes.size();
  if (complete > 0 && !last_pass_complete_) --complete;
  report_.complete_passes = uint32_t(complete);
  for (size_t pass = 1; pass < complete; ++pass) {
    if (report_.passes[pass].md5 != report_.passes[0].md5 || report_.passes[pass].frames != report_.passes[0].frames)
      Fail("loop pass " + std::to_string(pass) + " differs from pass 0 (" + report_.passes[pass].md5 + ", " +
           std::to_string(report_.passes[pass].frames) + " frames vs " + report_.passes[0].md5 + ", " +
           std::to_string(report_.passes[0].frames) + ")");
  }
}

}  // namespace firefox_client
