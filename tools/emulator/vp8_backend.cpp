// The emulator's VP8 backend.
//
// What it CHECKS, against GStreamer's VP8 parser (gstvp8parser.h, an
// implementation independent of the driver's) run over the OUTPUT buffer
// with the parser's state carried from frame to frame:
//  - every field of V4L2_CID_STATELESS_VP8_FRAME the hardware uses:
//    dimensions and scaling, version, key frame, segmentation (flags, feature
//    values and mode, tree probabilities when the map is updated), loop
//    filter (type, level, sharpness, deltas when enabled), quantiser
//    indices, the coefficient, mode and motion-vector probabilities after
//    this frame's updates, skip/intra/last/golden probabilities, sign biases,
//    partition count and sizes, the first partition's size, the header size
//    in bits and the bool decoder's state after the header (what hantro G1
//    loads into its registers, hantro_g1_vp8_dec.c cfg_parts()/cfg_tap(),
//    and cedrus writes into its probability table, cedrus_vp8.c).
//    A mismatch fails the decode: hardware would decode garbage.
//  - the reference timestamps: the model keeps which picture the bitstream's
//    last, golden and altref are (refresh and copy flags, RFC 6386 9.7 and
//    9.8), and each timestamp of an inter frame must name the buffer holding
//    that picture.
// What it DECODES: the OUTPUT bytes with libavcodec's VP8 decoder, the
// show_frame bit set (a hidden frame decodes the same, and the hardware
// writes it into the CAPTURE buffer too).
#include "vpx_backend.h"

// The codecparsers API is marked unstable; 1.22's is the one used.
#define GST_USE_UNSTABLE_API
extern "C" {
#include <gst/codecparsers/gstvp8parser.h>
#include <libavcodec/avcodec.h>
#include <libavutil/error.h>
#include <libavutil/frame.h>
}

#include <cstring>
#include <string>
#include <vector>

#include "capture_layout.h"

namespace emu {
namespace {

struct CodecContextFree {
  void operator()(AVCodecContext* c) const { avcodec_free_context(&c); }
};
struct PacketFree {
  void operator()(AVPacket* p) const { av_packet_free(&p); }
};
struct FrameFree {
  void operator()(AVFrame* f) const { av_frame_free(&f); }
};

std::string av_text(int code) {
  char text[AV_ERROR_MAX_STRING_SIZE] = {};
  av_strerror(code, text, sizeof(text));
  return text;
}

// Collects "field: control X, bitstream Y" lines.
class Comparison {
 public:
  template <class A, class B>
  void field(const char* name, A control, B bitstream) {
    if (static_cast<int64_t>(control) == static_cast<int64_t>(bitstream)) return;
    add(std::string(name) + ": control " + std::to_string(static_cast<int64_t>(control)) + ", bitstream " +
        std::to_string(static_cast<int64_t>(bitstream)));
  }
  void bytes(const char* name, const void* control, const void* bitstream, size_t size) {
    if (std::memcmp(control, bitstream, size) == 0) return;
    const auto* c = static_cast<const uint8_t*>(control);
    const auto* b = static_cast<const uint8_t*>(bitstream);
    size_t i = 0;
    while (c[i] == b[i]) ++i;
    add(std::string(name) + "[" + std::to_string(i) + "]: control " + std::to_string(c[i]) + ", bitstream " +
        std::to_string(b[i]));
  }
  bool empty() const { return text_.empty(); }
  const std::string& text() const { return text_; }

 private:
  void add(const std::string& line) {
    if (++count_ > 8) return;  // the first few say enough
    text_ += (text_.empty() ? "" : "; ") + line;
  }
  std::string text_;
  unsigned count_ = 0;
};

bool flag(uint64_t flags, uint64_t bit) { return (flags & bit) != 0; }

void compare_segmentation(const v4l2_vp8_segment& s, const GstVp8Segmentation& g, Comparison& c) {
  c.field("segment ENABLED", flag(s.flags, V4L2_VP8_SEGMENT_FLAG_ENABLED), g.segmentation_enabled);
  if (!g.segmentation_enabled) return;
  c.field("segment UPDATE_MAP", flag(s.flags, V4L2_VP8_SEGMENT_FLAG_UPDATE_MAP), g.update_mb_segmentation_map);
  c.field("segment UPDATE_FEATURE_DATA", flag(s.flags, V4L2_VP8_SEGMENT_FLAG_UPDATE_FEATURE_DATA),
          g.update_segment_feature_data);
  // segment_feature_mode 1 is absolute values (RFC 6386 9.3).
  c.field("segment DELTA_VALUE_MODE", flag(s.flags, V4L2_VP8_SEGMENT_FLAG_DELTA_VALUE_MODE),
          g.segment_feature_mode == 0);
  c.bytes("segment.quant_update", s.quant_update, g.quantizer_update_value, 4);
  c.bytes("segment.lf_update", s.lf_update, g.lf_update_value, 4);
  if (g.update_mb_segmentation_map) c.bytes("segment.segment_probs", s.segment_probs, g.segment_prob, 3);
}

void compare_loop_filter(const v4l2_vp8_loop_filter& lf, const GstVp8FrameHdr& h, const GstVp8MbLfAdjustments& g,
                         Comparison& c) {
  c.field("lf FILTER_TYPE_SIMPLE", flag(lf.flags, V4L2_VP8_LF_FILTER_TYPE_SIMPLE), h.filter_type);
  c.field("lf.level", lf.level, h.loop_filter_level);
  c.field("lf.sharpness_level", lf.sharpness_level, h.sharpness_level);
  c.field("lf ADJ_ENABLE", flag(lf.flags, V4L2_VP8_LF_ADJ_ENABLE), g.loop_filter_adj_enable);
  if (!g.loop_filter_adj_enable) return;
  c.field("lf DELTA_UPDATE", flag(lf.flags, V4L2_VP8_LF_DELTA_UPDATE), g.mode_ref_lf_delta_update);
  c.bytes("lf.ref_frm_delta", lf.ref_frm_delta, g.ref_frame_delta, 4);
  c.bytes("lf.mb_mode_delta", lf.mb_mode_delta, g.mb_mode_delta, 4);
}

void compare_frame(const v4l2_ctrl_vp8_frame& f, const GstVp8FrameHdr& h, const GstVp8Parser& p, Comparison& c) {
  const bool key = flag(f.flags, V4L2_VP8_FRAME_FLAG_KEY_FRAME);
  c.field("KEY_FRAME", key, h.key_frame);
  c.field("version", f.version, h.version);
  if (h.key_frame) {
    c.field("width", f.width, h.width);
    c.field("height", f.height, h.height);
    c.field("horizontal_scale", f.horizontal_scale, h.horiz_scale_code);
    c.field("vertical_scale", f.vertical_scale, h.vert_scale_code);
  }
  compare_segmentation(f.segment, p.segmentation, c);
  compare_loop_filter(f.lf, h, p.mb_lf_adjust, c);
  const GstVp8QuantIndices& q = h.quant_indices;
  c.field("quant.y_ac_qi", f.quant.y_ac_qi, q.y_ac_qi);
  c.field("quant.y_dc_delta", f.quant.y_dc_delta, q.y_dc_delta);
  c.field("quant.y2_dc_delta", f.quant.y2_dc_delta, q.y2_dc_delta);
  c.field("quant.y2_ac_delta", f.quant.y2_ac_delta, q.y2_ac_delta);
  c.field("quant.uv_dc_delta", f.quant.uv_dc_delta, q.uv_dc_delta);
  c.field("quant.uv_ac_delta", f.quant.uv_ac_delta, q.uv_ac_delta);
  c.bytes("entropy.coeff_probs", f.entropy.coeff_probs, h.token_probs.prob, sizeof(f.entropy.coeff_probs));
  c.bytes("entropy.y_mode_probs", f.entropy.y_mode_probs, h.mode_probs.y_prob, 4);
  c.bytes("entropy.uv_mode_probs", f.entropy.uv_mode_probs, h.mode_probs.uv_prob, 3);
  c.bytes("entropy.mv_probs", f.entropy.mv_probs, h.mv_probs.prob, sizeof(f.entropy.mv_probs));
  c.field("MB_NO_SKIP_COEFF", flag(f.flags, V4L2_VP8_FRAME_FLAG_MB_NO_SKIP_COEFF), h.mb_no_skip_coeff);
  if (h.mb_no_skip_coeff) c.field("prob_skip_false", f.prob_skip_false, h.prob_skip_false);
  if (!h.key_frame) {
    c.field("prob_intra", f.prob_intra, h.prob_intra);
    c.field("prob_last", f.prob_last, h.prob_last);
    c.field("prob_gf", f.prob_gf, h.prob_gf);
    c.field("SIGN_BIAS_GOLDEN", flag(f.flags, V4L2_VP8_FRAME_FLAG_SIGN_BIAS_GOLDEN), h.sign_bias_golden);
    c.field("SIGN_BIAS_ALT", flag(f.flags, V4L2_VP8_FRAME_FLAG_SIGN_BIAS_ALT), h.sign_bias_alternate);
  }
  c.field("num_dct_parts", f.num_dct_parts, 1u << h.log2_nbr_of_dct_partitions);
  for (unsigned i = 0; i < (1u << h.log2_nbr_of_dct_partitions) && i < 8; ++i)
    c.field("dct_part_sizes", f.dct_part_sizes[i], h.partition_size[i]);
  c.field("first_part_size", f.first_part_size, h.first_part_size);
  c.field("first_part_header_bits", f.first_part_header_bits, h.header_size);
  c.field("coder_state.range", f.coder_state.range, h.rd_range);
  c.field("coder_state.value", f.coder_state.value, h.rd_value);
  c.field("coder_state.bit_count", f.coder_state.bit_count, h.rd_count);
}

// Writes the decoded frame into the CAPTURE buffer in its layout.
void write_picture(const AVFrame& frame, uint32_t width, uint32_t height, const CaptureTarget& target) {
  for (uint32_t y = 0; y < height; ++y)
    write_plane_row(target.layout, PlaneKind::Luma, target.luma.data, target.bytesperline, y,
                    frame.data[0] + static_cast<ptrdiff_t>(y) * frame.linesize[0], width);
  const uint32_t chroma_width = (width + 1) / 2;
  std::vector<uint8_t> interleaved(chroma_width * 2);
  for (uint32_t y = 0; y < (height + 1) / 2; ++y) {
    const uint8_t* cb = frame.data[1] + static_cast<ptrdiff_t>(y) * frame.linesize[1];
    const uint8_t* cr = frame.data[2] + static_cast<ptrdiff_t>(y) * frame.linesize[2];
    for (uint32_t x = 0; x < chroma_width; ++x) {
      interleaved[2 * x] = cb[x];
      interleaved[2 * x + 1] = cr[x];
    }
    write_plane_row(target.layout, PlaneKind::Chroma, target.chroma.data, target.bytesperline, y,
                    interleaved.data(), chroma_width * 2);
  }
}

class LibavVp8Backend final : public Vp8Backend {
 public:
  LibavVp8Backend() { reset(); }

  void reset() override {
    gst_vp8_parser_init(&parser_);
    slots_ = {};
    context_.reset(avcodec_alloc_context3(avcodec_find_decoder(AV_CODEC_ID_VP8)));
    open_error_.clear();
    if (!context_) {
      open_error_ = "libavcodec has no VP8 decoder";
      return;
    }
    context_->thread_count = 1;
    context_->err_recognition = AV_EF_EXPLODE;
    if (const int ret = avcodec_open2(context_.get(), context_->codec, nullptr); ret < 0)
      open_error_ = "avcodec_open2 (vp8) failed: " + av_text(ret);
  }

  DecodeResult decode(const v4l2_ctrl_vp8_frame& frame, const VpxReferenceLookup& references, uint64_t serial,
                      const uint8_t* bitstream, size_t length, const CaptureTarget& target) override {
    DecodeResult result;
    if (!open_error_.empty()) {
      result.error = open_error_;
      return result;
    }
    GstVp8FrameHdr header{};
    if (gst_vp8_parser_parse_frame_header(&parser_, &header, bitstream, length) != GST_VP8_PARSER_OK) {
      result.error = "the OUTPUT buffer does not hold a VP8 frame (" + std::to_string(length) + " bytes)";
      return result;
    }
    Comparison comparison;
    compare_frame(frame, header, parser_, comparison);
    if (!comparison.empty()) {
      result.error = "V4L2_CID_STATELESS_VP8_FRAME does not describe the frame: " + comparison.text();
      return result;
    }
    if (!header.key_frame) result.reference_problems = check_references(frame, references);
    if (frame.width > target.width || frame.height > target.height) {
      result.error = "frame " + std::to_string(frame.width) + "x" + std::to_string(frame.height) +
                     " larger than the CAPTURE format " + std::to_string(target.width) + "x" +
                     std::to_string(target.height);
      return result;
    }
    if (std::string error = decode_frame(bitstream, length, frame, target); !error.empty()) {
      result.error = error;
      return result;
    }
    update_slots(header, serial);
    result.ok = true;
    return result;
  }

 private:
  enum Slot { kLast, kGolden, kAlt };

  std::vector<std::string> check_references(const v4l2_ctrl_vp8_frame& frame, const VpxReferenceLookup& refs) const {
    static const char* const names[3] = {"last_frame_ts", "golden_frame_ts", "alt_frame_ts"};
    const uint64_t timestamps[3] = {frame.last_frame_ts, frame.golden_frame_ts, frame.alt_frame_ts};
    std::vector<std::string> problems;
    for (int i = 0; i < 3; ++i) {
      if (slots_[i] == 0) continue;  // the stream did not start with a key frame here
      std::string what;
      if (refs.names_destination[i])
        what = "names the buffer being decoded into";
      else if (refs.serial[i] == 0)
        what = "names no CAPTURE buffer";
      else if (refs.serial[i] != slots_[i])
        what = "names picture #" + std::to_string(refs.serial[i]);
      if (what.empty()) continue;
      problems.push_back(std::string(names[i]) + " " + std::to_string(timestamps[i]) + " " + what +
                         "; the bitstream references picture #" + std::to_string(slots_[i]));
    }
    return problems;
  }

  // RFC 6386 9.7/9.8 as libavcodec applies them: copies read the
  // references as they were before this frame.
  void update_slots(const GstVp8FrameHdr& h, uint64_t serial) {
    if (h.key_frame) {
      slots_ = {serial, serial, serial};
      return;
    }
    const std::array<uint64_t, 3> before = slots_;
    if (h.refresh_golden_frame) slots_[kGolden] = serial;
    else if (h.copy_buffer_to_golden == 1) slots_[kGolden] = before[kLast];
    else if (h.copy_buffer_to_golden == 2) slots_[kGolden] = before[kAlt];
    if (h.refresh_alternate_frame) slots_[kAlt] = serial;
    else if (h.copy_buffer_to_alternate == 1) slots_[kAlt] = before[kLast];
    else if (h.copy_buffer_to_alternate == 2) slots_[kAlt] = before[kGolden];
    if (h.refresh_last) slots_[kLast] = serial;
  }

  std::string decode_frame(const uint8_t* bitstream, size_t length, const v4l2_ctrl_vp8_frame& frame,
                           const CaptureTarget& target) {
    std::unique_ptr<AVPacket, PacketFree> packet(av_packet_alloc());
    std::unique_ptr<AVFrame, FrameFree> picture(av_frame_alloc());
    if (!packet || !picture || av_new_packet(packet.get(), static_cast<int>(length)) < 0) return "out of memory";
    std::memcpy(packet->data, bitstream, length);
    packet->data[0] |= 0x10;  // show_frame: libavcodec outputs only shown frames
    if (const int ret = avcodec_send_packet(context_.get(), packet.get()); ret < 0)
      return "libavcodec rejected the frame: " + av_text(ret);
    if (const int ret = avcodec_receive_frame(context_.get(), picture.get()); ret < 0)
      return "libavcodec decoded no picture: " + av_text(ret);
    if (picture->width != frame.width || picture->height != frame.height)
      return "libavcodec decoded " + std::to_string(picture->width) + "x" + std::to_string(picture->height);
    write_picture(*picture, frame.width, frame.height, target);
    return {};
  }

  GstVp8Parser parser_{};
  std::array<uint64_t, 3> slots_{};  // serials of last, golden, altref; 0: none yet
  std::unique_ptr<AVCodecContext, CodecContextFree> context_;
  std::string open_error_;
};

}  // namespace

std::unique_ptr<Vp8Backend> Vp8Backend::create() { return std::make_unique<LibavVp8Backend>(); }

}  // namespace emu
