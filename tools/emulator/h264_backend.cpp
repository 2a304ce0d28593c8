// The emulator's H.264 decoding backend (libavcodec behind the V4L2 uAPI).
//
// What it TRUSTS (like the hardware it models, it takes these from the
// controls and never from the bitstream's parameter sets):
//  - the SPS and PPS controls and the scaling matrix: they are rebuilt into
//    SPS/PPS NAL units (rebuild_sps / rebuild_pps), so a wrong control field
//    changes the decoded picture exactly as it would on hardware. Any SPS,
//    PPS, AUD or SEI NAL unit in the OUTPUT buffer is dropped. The rebuilt PPS
//    takes the slice header's pic_parameter_set_id, because hardware decodes
//    every slice with the request's PPS whatever id the slice names.
//  - the slice data, for everything after the fields listed below: reference
//    list modification, weights, MMCO and the DPB come from the slices, and
//    libavcodec keeps its own DPB, so the DPB, slice-params reference lists
//    and pred-weights controls are not used to decode (the device model
//    compares them).
//
// What it CHECKS (each failure is a DecodeResult{ok=false}):
//  - the OUTPUT data holds slices (one slice NAL in slice-based mode, one or
//    more sharing pic_parameter_set_id and picture identity in frame-based
//    mode); data-partitioned slices are refused;
//  - decode_params against every slice header: IDR flag, FIELD_PIC,
//    BOTTOM_FIELD, frame_num, idr_pic_id, nal_ref_idc zero/non-zero; and in
//    slice-based mode slice_params.first_mb_in_slice and slice_type;
//  - the controls can be expressed as a parameter set and the picture fits
//    the emulated CAPTURE format (8-bit 4:2:0 or 4:0:0) and buffer;
//  - libavcodec's verdict: AV_EF_EXPLODE makes slice errors fail the packet,
//    and a request that starts no picture and continues none is an error. In
//    frame-based mode the picture's decode_error_flags also report
//    concealment, i.e. macroblocks of a frame picture no slice covered. Not
//    detected: a missing slice of a field picture (libavcodec runs no error
//    resilience on fields) and a missing slice in slice-based mode (error
//    resilience is off there: it would conceal the rows later requests
//    decode); such a picture keeps whatever the buffer held, like hardware.
//
// Output: the picture decoded by THIS request, in decode order, taken from
// the buffer libavcodec was given for it through our get_buffer2 (the
// display-order output of avcodec_receive_frame is drained and dropped).
// A field picture writes only its own lines, so both fields of a frame land
// in one CAPTURE buffer the way the hardware writes them.
#include "h264_backend.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstring>
#include <deque>
#include <span>
#include <utility>

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavutil/buffer.h>
#include <libavutil/dict.h>
#include <libavutil/error.h>
#include <libavutil/frame.h>
}

#include "h264_bitstream.h"

namespace emu {
namespace {

struct CodecContextDeleter {
  void operator()(AVCodecContext* context) const { avcodec_free_context(&context); }
};
struct PacketDeleter {
  void operator()(AVPacket* packet) const { av_packet_free(&packet); }
};
struct FrameDeleter {
  void operator()(AVFrame* frame) const { av_frame_free(&frame); }
};
struct BufferRefDeleter {
  void operator()(AVBufferRef* buffer) const { av_buffer_unref(&buffer); }
};
// Owns the options handed to avcodec_open2 (which may replace the pointer).
struct CodecOptions {
  AVDictionary* dictionary = nullptr;
  CodecOptions() = default;
  CodecOptions(const CodecOptions&) = delete;
  CodecOptions& operator=(const CodecOptions&) = delete;
  ~CodecOptions() { av_dict_free(&dictionary); }
};

using CodecContextPtr = std::unique_ptr<AVCodecContext, CodecContextDeleter>;
using PacketPtr = std::unique_ptr<AVPacket, PacketDeleter>;
using FramePtr = std::unique_ptr<AVFrame, FrameDeleter>;
using BufferRefPtr = std::unique_ptr<AVBufferRef, BufferRefDeleter>;

std::string av_error_text(int code) {
  std::array<char, AV_ERROR_MAX_STRING_SIZE> text{};
  av_strerror(code, text.data(), text.size());
  return text.data();
}

constexpr std::array<uint8_t, 4> kAnnexBStartCode = {0, 0, 0, 1};

// The picture libavcodec is decoding into: its planes, kept alive by our own
// references, and the decoder's AVFrame, whose decode_error_flags libavcodec
// updates while it decodes.
struct DecoderPicture {
  std::array<BufferRefPtr, 3> planes_held;
  std::array<uint8_t*, 3> data{};
  std::array<int, 3> linesize{};
  int width = 0;
  int height = 0;
  const AVFrame* decoder_frame = nullptr;
  // Which fields requests have decoded into it (bit 0 top, bit 1 bottom).
  unsigned fields_decoded = 0;
  bool still_owned_by_decoder() const {
    return decoder_frame && decoder_frame->buf[0] && planes_held[0] &&
           decoder_frame->buf[0]->buffer == planes_held[0]->buffer;
  }
};

// Geometry of the picture a request describes, in frame lines.
struct PictureGeometry {
  uint32_t width = 0;
  uint32_t height = 0;
  bool monochrome = false;
};

PictureGeometry geometry_of(const v4l2_ctrl_h264_sps& sps) {
  PictureGeometry g;
  const bool frame_mbs_only = sps.flags & V4L2_H264_SPS_FLAG_FRAME_MBS_ONLY;
  g.width = (sps.pic_width_in_mbs_minus1 + 1u) * 16u;
  // 7.4.2.1.1: FrameHeightInMbs = (2 - frame_mbs_only_flag) * PicHeightInMapUnits.
  g.height = (sps.pic_height_in_map_units_minus1 + 1u) * 16u * (frame_mbs_only ? 1u : 2u);
  g.monochrome = sps.chroma_format_idc == 0;
  return g;
}

// Writes rows of the luma plane or of the interleaved chroma plane, in the
// target's layout (capture_layout.h). `row_bytes` holds one row of `width` bytes.
class PlaneWriter {
 public:
  PlaneWriter(const CaptureTarget& target, PlaneKind kind)
      : target_(target),
        kind_(kind),
        plane_(kind == PlaneKind::Luma ? target.luma.data : target.chroma.data) {}

  void write_row(uint32_t row, const uint8_t* row_bytes, uint32_t width) const {
    write_plane_row(target_.layout, kind_, plane_, target_.bytesperline, row, row_bytes, width);
  }

 private:
  const CaptureTarget& target_;
  PlaneKind kind_;
  uint8_t* plane_;
};

// Reads `width` bytes of row `row` of one plane of `source`, in its layout
// (the inverse of PlaneWriter::write_row). Bytes outside the buffer read as 0.
void read_capture_row(const CaptureTarget& source, PlaneKind kind, uint32_t row, uint8_t* out,
                      uint32_t width) {
  const CapturePlane& plane = kind == PlaneKind::Luma ? source.luma : source.chroma;
  const TileShape tile = tile_shape(source.layout, kind);
  const uint32_t run_length = tile.width == 1 ? width : tile.width;
  for (uint32_t x = 0; x < width; x += run_length) {
    const size_t count = std::min(run_length, width - x);
    const size_t start = plane_offset(source.layout, kind, source.bytesperline, x, row);
    const size_t available =
        plane.data && start < plane.size ? std::min(count, plane.size - start) : 0;
    if (available) std::memcpy(out + x, plane.data + start, available);
    std::memset(out + x + available, 0, count - available);
  }
}

std::string check_target(const CaptureTarget& target, const PictureGeometry& picture) {
  if (!target.luma.data || !target.chroma.data) return "CAPTURE buffer has no mapping";
  if (target.width < picture.width || target.height < picture.height)
    return "CAPTURE format " + std::to_string(target.width) + "x" + std::to_string(target.height) +
           " is smaller than the coded picture " + std::to_string(picture.width) + "x" +
           std::to_string(picture.height);
  if (target.bytesperline < target.width) return "CAPTURE bytesperline is below the width";
  if (!pitch_fits(target.layout, target.bytesperline))
    return "CAPTURE bytesperline " + std::to_string(target.bytesperline) +
           " is not a whole number of tiles";
  const size_t luma = plane_extent(target.layout, PlaneKind::Luma, target.bytesperline,
                                   target.width, target.height);
  const size_t chroma = plane_extent(target.layout, PlaneKind::Chroma, target.bytesperline,
                                     target.width, (target.height + 1) / 2);
  if (target.luma.size < luma) return "CAPTURE buffer too small for its luma plane";
  if (target.chroma.size < chroma) return "CAPTURE buffer too small for its chroma plane";
  // One memory plane: the chroma plane must start after the luma plane.
  if (target.chroma.data >= target.luma.data &&
      target.chroma.data < target.luma.data + target.luma.size &&
      static_cast<size_t>(target.chroma.data - target.luma.data) < luma)
    return "CAPTURE chroma plane overlaps the luma plane";
  return {};
}

class LibavH264Backend final : public H264Backend {
 public:
  LibavH264Backend(DecodeMode mode, StartCode start_code) : mode_(mode), start_code_(start_code) {
    // Until a request sets the matrix, the control holds the kernel's
    // default: flat 16 (v4l2-ctrls-core.c, std_init_compound).
    std::memset(&scaling_matrix_, 16, sizeof(scaling_matrix_));
  }

  // (Re)creates the libavcodec decoder; remembers why when that fails.
  void open() {
    context_.reset();
    open_error_ = open_decoder();
  }

  DecodeResult decode(const H264RequestControls& controls, const uint8_t* bitstream,
                      size_t length, const CaptureTarget& target) override {
    DecodeResult result;
    result.error = decode_request(controls, std::span<const uint8_t>(bitstream, bitstream ? length : 0),
                                  target);
    result.ok = result.error.empty();
    return result;
  }

  void set_reference_overrides(std::vector<ReferenceOverride> overrides) override {
    overrides_ = std::move(overrides);
    // Only a device in hardware DPB mode calls this; only then is the
    // history (which pins decoded pictures) kept.
    track_references_ = true;
  }

  void reset() override {
    current_.reset();
    history_.clear();
    overrides_.clear();
    for (auto& nal : sent_sps_) nal.clear();
    for (auto& nal : sent_pps_) nal.clear();
    std::memset(&scaling_matrix_, 16, sizeof(scaling_matrix_));
    open();
  }

 private:
  std::string open_decoder() {
    const AVCodec* codec = avcodec_find_decoder(AV_CODEC_ID_H264);
    if (!codec) return "libavcodec has no H.264 decoder";
    context_.reset(avcodec_alloc_context3(codec));
    packet_.reset(av_packet_alloc());
    drained_frame_.reset(av_frame_alloc());
    if (!context_ || !packet_ || !drained_frame_) return "out of memory";
    context_->opaque = this;
    context_->get_buffer2 = &LibavH264Backend::get_buffer;
    context_->thread_count = 1;
    // One thread: no frame threading, and the picture is complete when
    // avcodec_send_packet returns.
    context_->thread_type = 0;
    // Slice errors fail the packet instead of being concealed silently.
    context_->err_recognition |= AV_EF_EXPLODE;
    CodecOptions options;
    if (mode_ == DecodeMode::SliceBased) {
      // A picture spans packets; libavcodec ends it when its last macroblock
      // is decoded (h264dec.c, h264_decode_frame with FLAG2_CHUNKS).
      context_->flags2 |= AV_CODEC_FLAG2_CHUNKS;
      // Error resilience runs at the end of every packet of a frame picture
      // and would conceal (and deblock into) the rows later slices decode.
      av_dict_set(&options.dictionary, "enable_er", "0", 0);
      // Without error resilience libavcodec's slice bookkeeping stays empty,
      // so every slice after the first looks like it follows a damaged one
      // (h264_slice.c decode_slice) and FF_DECODE_ERROR_DECODE_SLICES sticks.
      // Slice errors still fail avcodec_send_packet through AV_EF_EXPLODE.
      reliable_error_flags_ = ~FF_DECODE_ERROR_DECODE_SLICES;
      // Finished macroblock rows are reported through draw_horiz_band, which
      // bounds the lines a slice touched (field rows included).
      context_->draw_horiz_band = &LibavH264Backend::rows_finished;
      context_->slice_flags = SLICE_FLAG_CODED_ORDER | SLICE_FLAG_ALLOW_FIELD;
    }
    const int ret = avcodec_open2(context_.get(), codec, &options.dictionary);
    if (ret < 0) {
      context_.reset();
      return "avcodec_open2 failed: " + av_error_text(ret);
    }
    return {};
  }

  static void rows_finished(AVCodecContext* context, const AVFrame*, int offset[AV_NUM_DATA_POINTERS],
                            int y, int /*type*/, int height) {
    (void)offset;
    auto* self = static_cast<LibavH264Backend*>(context->opaque);
    self->rows_finished_bottom_ = std::max<int64_t>(self->rows_finished_bottom_, int64_t{y} + height);
  }

  static int get_buffer(AVCodecContext* context, AVFrame* frame, int flags) {
    auto* self = static_cast<LibavH264Backend*>(context->opaque);
    const int ret = avcodec_default_get_buffer2(context, frame, flags);
    if (ret < 0) return ret;
    auto picture = std::make_shared<DecoderPicture>();
    for (size_t plane = 0; plane < 3; ++plane) {
      picture->data[plane] = frame->data[plane];
      picture->linesize[plane] = frame->linesize[plane];
      if (frame->buf[plane]) picture->planes_held[plane].reset(av_buffer_ref(frame->buf[plane]));
    }
    picture->width = frame->width;
    picture->height = frame->height;
    picture->decoder_frame = frame;
    self->current_ = std::move(picture);
    ++self->pictures_allocated_;
    return 0;
  }

  std::string decode_request(const H264RequestControls& controls, std::span<const uint8_t> data,
                             const CaptureTarget& target) {
    if (!context_) return open_error_.empty() ? "decoder not open" : open_error_;
    const v4l2_ctrl_h264_sps& sps = controls.sps;
    if (sps.chroma_format_idc > 1)
      return "chroma_format_idc " + std::to_string(sps.chroma_format_idc) +
             " does not fit the emulated 8-bit 4:2:0 CAPTURE formats";
    if (sps.bit_depth_luma_minus8 != 0 || sps.bit_depth_chroma_minus8 != 0)
      return "bit depth above 8 does not fit the emulated 8-bit 4:2:0 CAPTURE formats";
    const PictureGeometry geometry = geometry_of(sps);
    if (std::string error = check_target(target, geometry); !error.empty()) return error;

    std::vector<std::span<const uint8_t>> slices;
    if (std::string error = collect_slices(data, slices); !error.empty()) return error;
    if (slices.empty()) return "OUTPUT buffer holds no slice NAL unit";
    if (mode_ == DecodeMode::SliceBased && slices.size() != 1)
      return "slice-based request holds " + std::to_string(slices.size()) + " slices, not one";

    h264::SliceHeaderStart first_header;
    for (size_t i = 0; i < slices.size(); ++i) {
      std::string error;
      const auto header = h264::parse_slice_header_start(slices[i], sps, &error);
      if (!header) return error;
      if (i == 0) {
        first_header = *header;
        if (error = check_against_controls(*header, controls); !error.empty()) return error;
      } else if (header->pic_parameter_set_id != first_header.pic_parameter_set_id ||
                 header->frame_num != first_header.frame_num ||
                 header->field_pic != first_header.field_pic ||
                 header->bottom_field != first_header.bottom_field ||
                 header->nal_unit_type != first_header.nal_unit_type) {
        return "slices of one frame-based request belong to different pictures";
      }
    }

    if (controls.scaling_matrix) scaling_matrix_ = *controls.scaling_matrix;
    std::vector<uint8_t> packet_bytes;
    if (std::string error = append_parameter_sets(controls, first_header.pic_parameter_set_id,
                                                  packet_bytes);
        !error.empty())
      return error;
    for (const auto& slice : slices) {
      packet_bytes.insert(packet_bytes.end(), kAnnexBStartCode.begin(), kAnnexBStartCode.end());
      packet_bytes.insert(packet_bytes.end(), slice.begin(), slice.end());
    }

    const uint64_t allocated_before = pictures_allocated_;
    rows_finished_bottom_ = -1;
    // The hardware reads some references from other memory: so does
    // libavcodec, for this packet only.
    std::vector<SavedPlanes> replaced = apply_overrides();
    const std::string send_error = send_to_decoder(packet_bytes);
    for (SavedPlanes& saved : replaced) saved.restore();
    if (!send_error.empty()) return send_error;

    // Which picture did this request decode into?
    const bool started_picture = pictures_allocated_ != allocated_before;
    const unsigned field_bit = first_header.field_pic ? (first_header.bottom_field ? 2u : 1u) : 3u;
    if (!current_) return "libavcodec decoded no picture for this request";
    if (!started_picture) {
      const bool continues_slices = mode_ == DecodeMode::SliceBased && first_header.first_mb_in_slice != 0;
      const bool second_field = first_header.field_pic && current_->fields_decoded != 0 &&
                                (current_->fields_decoded & field_bit) == 0;
      if (!continues_slices && !second_field)
        return "libavcodec started no picture for this request";
    }
    if (!current_->still_owned_by_decoder()) return "libavcodec discarded the picture";
    if (const int flags = current_->decoder_frame->decode_error_flags & reliable_error_flags_; flags != 0)
      return "libavcodec reported errors decoding the picture (decode_error_flags 0x" +
             to_hex(static_cast<unsigned>(flags)) + ")";
    if (current_->width < static_cast<int>(geometry.width) ||
        current_->height < static_cast<int>(geometry.height))
      return "libavcodec picture is smaller than the SPS size";
    current_->fields_decoded |= field_bit;
    if (track_references_) remember(controls.decode_params);

    LineRange lines{0, geometry.height};
    if (mode_ == DecodeMode::SliceBased) lines = lines_touched(first_header, sps, geometry.height);
    copy_to_target(*current_, geometry, first_header, lines, target);
    return {};
  }

  // A picture's planes as they were before an override wrote into them.
  struct SavedPlanes {
    std::shared_ptr<DecoderPicture> picture;
    std::array<std::vector<uint8_t>, 3> bytes;
    void restore() {
      for (size_t plane = 0; plane < 3; ++plane)
        if (!bytes[plane].empty()) std::memcpy(picture->data[plane], bytes[plane].data(), bytes[plane].size());
    }
  };

  static size_t plane_rows(const DecoderPicture& picture, size_t plane) {
    return plane == 0 ? static_cast<size_t>(picture.height) : static_cast<size_t>(picture.height + 1) / 2;
  }

  void remember(const v4l2_ctrl_h264_decode_params& params) {
    const bool field = params.flags & V4L2_H264_DECODE_PARAM_FLAG_FIELD_PIC;
    const bool bottom = params.flags & V4L2_H264_DECODE_PARAM_FLAG_BOTTOM_FIELD;
    if (history_.empty() || history_.front().picture != current_) {
      history_.push_front({current_, 0, 0, 0});
      // More than a DPB (16 frames) and the pictures in flight.
      if (history_.size() > 40) history_.pop_back();
    }
    DecodedPicture& entry = history_.front();
    if (!field || !bottom) entry.top_poc = params.top_field_order_cnt;
    if (!field || bottom) entry.bottom_poc = params.bottom_field_order_cnt;
    entry.fields |= !field ? V4L2_H264_FRAME_REF : bottom ? V4L2_H264_BOTTOM_FIELD_REF : V4L2_H264_TOP_FIELD_REF;
  }

  // The decoded picture a DPB entry with these POCs names: the newest one
  // holding those fields with those POCs.
  std::shared_ptr<DecoderPicture> find_reference(const ReferenceOverride& reference) const {
    const uint8_t wanted = reference.fields & V4L2_H264_FRAME_REF;
    for (const DecodedPicture& decoded : history_) {
      if (wanted == 0 || (decoded.fields & wanted) != wanted) continue;
      if ((wanted & V4L2_H264_TOP_FIELD_REF) && decoded.top_poc != reference.top_poc) continue;
      if ((wanted & V4L2_H264_BOTTOM_FIELD_REF) && decoded.bottom_poc != reference.bottom_poc) continue;
      return decoded.picture;
    }
    return nullptr;
  }

  // Writes each override's source pixels over the picture libavcodec
  // holds for that reference; returns what to put back afterwards.
  std::vector<SavedPlanes> apply_overrides() {
    std::vector<SavedPlanes> saved;
    const std::vector<ReferenceOverride> overrides = std::exchange(overrides_, {});
    for (const ReferenceOverride& reference : overrides) {
      std::shared_ptr<DecoderPicture> picture = find_reference(reference);
      if (!picture || !picture->data[0]) continue;
      const bool already = std::any_of(saved.begin(), saved.end(),
                                       [&](const SavedPlanes& s) { return s.picture == picture; });
      if (!already) {
        SavedPlanes backup{picture, {}};
        for (size_t plane = 0; plane < 3; ++plane) {
          if (!picture->data[plane]) continue;
          const size_t bytes = plane_rows(*picture, plane) * static_cast<size_t>(picture->linesize[plane]);
          backup.bytes[plane].assign(picture->data[plane], picture->data[plane] + bytes);
        }
        saved.push_back(std::move(backup));
      }
      read_from_capture(reference.source, *picture);
    }
    return saved;
  }

  // CAPTURE memory (NV12, NV12_32L32 or MM21) into a libavcodec I420 picture.
  static void read_from_capture(const CaptureTarget& source, DecoderPicture& picture) {
    const uint32_t width = std::min<uint32_t>(source.width, static_cast<uint32_t>(picture.width));
    const uint32_t height = std::min<uint32_t>(source.height, static_cast<uint32_t>(picture.height));
    for (uint32_t y = 0; y < height; ++y)
      read_capture_row(source, PlaneKind::Luma, y,
                       picture.data[0] + static_cast<ptrdiff_t>(y) * picture.linesize[0], width);
    if (!picture.data[1] || !picture.data[2]) return;
    std::vector<uint8_t> interleaved(width);
    for (uint32_t y = 0; y < height / 2; ++y) {
      read_capture_row(source, PlaneKind::Chroma, y, interleaved.data(), width);
      uint8_t* cb = picture.data[1] + static_cast<ptrdiff_t>(y) * picture.linesize[1];
      uint8_t* cr = picture.data[2] + static_cast<ptrdiff_t>(y) * picture.linesize[2];
      for (uint32_t x = 0; x < width / 2; ++x) {
        cb[x] = interleaved[2 * x];
        cr[x] = interleaved[2 * x + 1];
      }
    }
  }

  static std::string to_hex(unsigned value) {
    std::array<char, 16> text{};
    std::snprintf(text.data(), text.size(), "%x", value);
    return text.data();
  }

  std::string collect_slices(std::span<const uint8_t> data, std::vector<std::span<const uint8_t>>& slices) {
    std::vector<std::span<const uint8_t>> units;
    if (start_code_ == StartCode::AnnexB) {
      units = h264::split_annex_b(data);
    } else if (!data.empty()) {
      // V4L2_STATELESS_H264_START_CODE_NONE: the buffer is one NAL unit.
      units.push_back(data);
    }
    for (const auto& unit : units) {
      if (unit.empty()) continue;
      const uint8_t type = unit[0] & 0x1f;
      if (type == h264::kNalSlice || type == h264::kNalIdrSlice) {
        slices.push_back(unit);
      } else if (type >= h264::kNalSliceDataPartitionA && type <= h264::kNalSliceDataPartitionC) {
        return "data-partitioned slices (Extended profile) are not supported";
      }
      // Everything else (SPS, PPS, AUD, SEI, ...) is dropped: the hardware
      // parses slices only and takes parameter sets from the controls.
    }
    return {};
  }

  std::string check_against_controls(const h264::SliceHeaderStart& header,
                                     const H264RequestControls& controls) const {
    const v4l2_ctrl_h264_decode_params& params = controls.decode_params;
    const bool idr = header.nal_unit_type == h264::kNalIdrSlice;
    if (idr != bool(params.flags & V4L2_H264_DECODE_PARAM_FLAG_IDR_PIC))
      return std::string("decode_params IDR_PIC flag is ") + (idr ? "clear" : "set") +
             " but the slice is " + (idr ? "" : "not ") + "an IDR slice";
    if (header.field_pic != bool(params.flags & V4L2_H264_DECODE_PARAM_FLAG_FIELD_PIC))
      return "decode_params FIELD_PIC flag disagrees with the slice's field_pic_flag";
    if (header.field_pic &&
        header.bottom_field != bool(params.flags & V4L2_H264_DECODE_PARAM_FLAG_BOTTOM_FIELD))
      return "decode_params BOTTOM_FIELD flag disagrees with the slice's bottom_field_flag";
    if (header.frame_num != params.frame_num)
      return "decode_params frame_num " + std::to_string(params.frame_num) +
             " but the slice has frame_num " + std::to_string(header.frame_num);
    if (idr && header.idr_pic_id != params.idr_pic_id)
      return "decode_params idr_pic_id " + std::to_string(params.idr_pic_id) +
             " but the slice has idr_pic_id " + std::to_string(header.idr_pic_id);
    if ((header.nal_ref_idc != 0) != (params.nal_ref_idc != 0))
      return "decode_params nal_ref_idc " + std::to_string(params.nal_ref_idc) +
             " disagrees with the slice's nal_ref_idc " + std::to_string(header.nal_ref_idc);
    if (mode_ == DecodeMode::SliceBased && controls.slice_params) {
      const v4l2_ctrl_h264_slice_params& slice = *controls.slice_params;
      if (slice.first_mb_in_slice != header.first_mb_in_slice)
        return "slice_params first_mb_in_slice " + std::to_string(slice.first_mb_in_slice) +
               " but the slice starts at " + std::to_string(header.first_mb_in_slice);
      if (slice.slice_type != header.slice_type % 5)
        return "slice_params slice_type " + std::to_string(slice.slice_type) +
               " but the slice has slice_type " + std::to_string(header.slice_type % 5);
    }
    return {};
  }

  // Puts SPS/PPS NAL units in front of the slices when they differ from what
  // libavcodec last received under that id. libavcodec keeps a repeated
  // identical SPS, but a changed one drops the PPSs that refer to it and may
  // reinitialise the decoder, so parameter sets are only sent on change.
  std::string append_parameter_sets(const H264RequestControls& controls, uint32_t slice_pps_id,
                                    std::vector<uint8_t>& packet_bytes) {
    const h264::RebuiltRbsp sps_rbsp = h264::rebuild_sps(controls.sps);
    if (!sps_rbsp.ok()) return sps_rbsp.error;
    const h264::RebuiltRbsp pps_rbsp = h264::rebuild_pps(controls.pps, controls.sps, scaling_matrix_,
                                                         static_cast<uint8_t>(slice_pps_id));
    if (!pps_rbsp.ok()) return pps_rbsp.error;
    const size_t sps_id = controls.sps.seq_parameter_set_id;
    if (sps_id >= sent_sps_.size())
      return "seq_parameter_set_id " + std::to_string(sps_id) + " above 31";
    const std::vector<uint8_t> sps_nal = h264::make_nal_unit(3, h264::kNalSps, sps_rbsp.rbsp);
    const std::vector<uint8_t> pps_nal = h264::make_nal_unit(3, h264::kNalPps, pps_rbsp.rbsp);
    if (sent_sps_[sps_id] != sps_nal) {
      packet_bytes.insert(packet_bytes.end(), kAnnexBStartCode.begin(), kAnnexBStartCode.end());
      packet_bytes.insert(packet_bytes.end(), sps_nal.begin(), sps_nal.end());
      sent_sps_[sps_id] = sps_nal;
      // libavcodec removes every PPS that referred to the replaced SPS.
      for (auto& nal : sent_pps_) nal.clear();
    }
    if (sent_pps_[slice_pps_id] != pps_nal) {
      packet_bytes.insert(packet_bytes.end(), kAnnexBStartCode.begin(), kAnnexBStartCode.end());
      packet_bytes.insert(packet_bytes.end(), pps_nal.begin(), pps_nal.end());
      sent_pps_[slice_pps_id] = pps_nal;
    }
    return {};
  }

  std::string send_to_decoder(const std::vector<uint8_t>& packet_bytes) {
    av_packet_unref(packet_.get());
    if (const int ret = av_new_packet(packet_.get(), static_cast<int>(packet_bytes.size())); ret < 0)
      return "av_new_packet failed: " + av_error_text(ret);
    std::memcpy(packet_->data, packet_bytes.data(), packet_bytes.size());
    const int sent = avcodec_send_packet(context_.get(), packet_.get());
    // Drain the display-order output: a frame left waiting in libavcodec
    // would make the next avcodec_send_packet queue the packet undecoded.
    for (;;) {
      const int received = avcodec_receive_frame(context_.get(), drained_frame_.get());
      if (received < 0) break;
      av_frame_unref(drained_frame_.get());
    }
    if (sent < 0) return "libavcodec rejected the request's slices: " + av_error_text(sent);
    return {};
  }

  struct LineRange {
    uint32_t begin;
    uint32_t end;
  };

  // Frame lines the slice of a slice-based request can have changed. It
  // starts at its first macroblock row, less a margin for deblocking across
  // the slice boundary (3 lines above, 6 frame lines for fields/MBAFF), and
  // ends one macroblock row (the unfinished one) below the last row
  // libavcodec reported finished, or below its first row.
  LineRange lines_touched(const h264::SliceHeaderStart& header, const v4l2_ctrl_h264_sps& sps,
                          uint32_t picture_height) const {
    const uint32_t width_in_mbs = sps.pic_width_in_mbs_minus1 + 1u;
    const bool mbaff = (sps.flags & V4L2_H264_SPS_FLAG_MB_ADAPTIVE_FRAME_FIELD) && !header.field_pic;
    // In field pictures and MBAFF frames one row of the slice header's
    // macroblock addressing covers 32 frame lines.
    const uint32_t row_lines = (header.field_pic || mbaff) ? 32 : 16;
    const uint32_t start_line = header.first_mb_in_slice / width_in_mbs * row_lines;
    const uint64_t finished = rows_finished_bottom_ < 0 ? 0 : static_cast<uint64_t>(rows_finished_bottom_);
    const uint64_t end = std::max<uint64_t>(finished, start_line + row_lines) + row_lines;
    return {start_line > 32 ? start_line - 32 : 0,
            static_cast<uint32_t>(std::min<uint64_t>(end, picture_height))};
  }

  static void copy_to_target(const DecoderPicture& picture, const PictureGeometry& geometry,
                             const h264::SliceHeaderStart& header, LineRange lines,
                             const CaptureTarget& target) {
    // A field picture owns every other line, starting at its parity.
    const uint32_t line_step = header.field_pic ? 2 : 1;
    const uint32_t parity = header.field_pic && header.bottom_field ? 1 : 0;
    auto first_of_parity = [&](uint32_t line) {
      if (line_step == 1) return line;
      return (line % 2 == parity) ? line : line + 1;
    };

    const PlaneWriter luma(target, PlaneKind::Luma);
    for (uint32_t y = first_of_parity(lines.begin); y < lines.end; y += line_step)
      luma.write_row(y, picture.data[0] + static_cast<ptrdiff_t>(y) * picture.linesize[0], geometry.width);

    const PlaneWriter chroma(target, PlaneKind::Chroma);
    std::vector<uint8_t> interleaved(geometry.width);
    const uint32_t chroma_end = std::min((lines.end + 1) / 2, geometry.height / 2);
    // Chroma lines of a field alternate like its luma lines.
    for (uint32_t y = first_of_parity(lines.begin / 2); y < chroma_end; y += line_step) {
      if (geometry.monochrome || !picture.data[1] || !picture.data[2]) {
        // 4:0:0 carries no chroma; the CAPTURE format shows grey (128).
        std::fill(interleaved.begin(), interleaved.end(), uint8_t{128});
      } else {
        const uint8_t* cb = picture.data[1] + static_cast<ptrdiff_t>(y) * picture.linesize[1];
        const uint8_t* cr = picture.data[2] + static_cast<ptrdiff_t>(y) * picture.linesize[2];
        for (uint32_t x = 0; x < geometry.width / 2; ++x) {
          interleaved[2 * x] = cb[x];
          interleaved[2 * x + 1] = cr[x];
        }
      }
      chroma.write_row(y, interleaved.data(), geometry.width);
    }
  }

  const DecodeMode mode_;
  const StartCode start_code_;
  CodecContextPtr context_;
  PacketPtr packet_;
  FramePtr drained_frame_;
  std::shared_ptr<DecoderPicture> current_;
  // Pictures decoded lately, newest first, with the POCs their requests
  // gave: where a reference override finds the picture it replaces.
  struct DecodedPicture {
    std::shared_ptr<DecoderPicture> picture;
    int32_t top_poc = 0;
    int32_t bottom_poc = 0;
    uint8_t fields = 0;
  };
  std::deque<DecodedPicture> history_;
  std::vector<ReferenceOverride> overrides_;
  bool track_references_ = false;
  uint64_t pictures_allocated_ = 0;
  // NAL units libavcodec last received per id (empty: none yet).
  std::array<std::vector<uint8_t>, 32> sent_sps_;
  std::array<std::vector<uint8_t>, 256> sent_pps_;
  // The scaling matrix control persists across requests like any control.
  v4l2_ctrl_h264_scaling_matrix scaling_matrix_{};
  std::string open_error_;
  // Bottom frame line of the rows libavcodec finished during this request.
  int64_t rows_finished_bottom_ = -1;
  // decode_error_flags bits that mean what they say in this mode.
  int reliable_error_flags_ = ~0;
};

}  // namespace

std::unique_ptr<H264Backend> H264Backend::create(DecodeMode mode, StartCode start_code) {
  auto backend = std::make_unique<LibavH264Backend>(mode, start_code);
  backend->open();
  return backend;
}

}  // namespace emu
