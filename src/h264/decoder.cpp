#include "h264/decoder.h"

#include <linux/v4l2-controls.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>

namespace v4l2va::h264 {
namespace {

constexpr uint8_t kStartCode[3] = {0, 0, 1};

// 0 names no picture: vb2_find_buffer() matches only buffers whose
// timestamp was copied from an OUTPUT buffer (videobuf2-v4l2.c), and the
// driver's timestamps start at 1000 ns.
constexpr uint64_t kNoPicture = 0;

const char* env_or(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return (v && *v) ? v : fallback;
}

void append_control(std::vector<v4l2_ext_control>& controls, uint32_t id, void* payload, size_t size) {
  v4l2_ext_control control{};
  control.id = id;
  control.size = static_cast<uint32_t>(size);
  control.ptr = payload;
  controls.push_back(control);
}

// The picture order count a reference is compared by when concealing.
int32_t order_of(const VAPictureH264& picture) {
  if (picture.flags & VA_PICTURE_H264_BOTTOM_FIELD && !(picture.flags & VA_PICTURE_H264_TOP_FIELD))
    return picture.BottomFieldOrderCnt;
  return picture.TopFieldOrderCnt;
}

bool is_reference(const VAPictureH264& picture) {
  return picture.picture_id != VA_INVALID_SURFACE && !(picture.flags & VA_PICTURE_H264_INVALID);
}

}  // namespace

Result<DecodeModes> choose_decode_modes(const DecoderCapabilities& caps, Log& log) {
  const std::string mode = env_or("LIBVA_V4L2_REQUEST_H264_DECODE_MODE", caps.frame_based ? "frame" : "slice");
  const std::string start = env_or("LIBVA_V4L2_REQUEST_H264_START_CODE", caps.annex_b ? "annexb" : "none");
  if ((mode == "frame" && !caps.frame_based) || (mode == "slice" && !caps.slice_based) ||
      (mode != "frame" && mode != "slice")) {
    log.errorf("%s: H.264 decode mode '%s' is not offered by the device", caps.video_path.c_str(), mode.c_str());
    return Failed{VA_STATUS_ERROR_UNSUPPORTED_PROFILE};
  }
  if ((start == "annexb" && !caps.annex_b) || (start == "none" && !caps.no_start_code) ||
      (start != "annexb" && start != "none")) {
    log.errorf("%s: H.264 start code mode '%s' is not offered by the device", caps.video_path.c_str(),
               start.c_str());
    return Failed{VA_STATUS_ERROR_UNSUPPORTED_PROFILE};
  }
  DecodeModes modes;
  modes.slice_based = mode == "slice";
  modes.annex_b = start == "annexb";
  if (!modes.slice_based && !modes.annex_b) {
    // Frame-based needs start codes to delimit the slices of a picture
    // (ext-ctrls-codec-stateless.rst, V4L2_CID_STATELESS_H264_START_CODE).
    log.errorf("%s: frame-based decoding without start codes cannot delimit slices", caps.video_path.c_str());
    return Failed{VA_STATUS_ERROR_UNSUPPORTED_PROFILE};
  }
  return modes;
}

H264Codec::H264Codec(VAProfile profile, const DecoderCapabilities& caps, DecodeModes modes, uint32_t max_slices,
                     Log& log)
    : caps_(caps), modes_(modes), max_slices_(max_slices), log_(log), stream_(profile), profile_(profile) {}

uint32_t H264Codec::coded_format() const { return V4L2_PIX_FMT_H264_SLICE; }

std::vector<DeviceControl> H264Codec::device_controls() const {
  return {
      {V4L2_CID_STATELESS_H264_DECODE_MODE,
       modes_.slice_based ? V4L2_STATELESS_H264_DECODE_MODE_SLICE_BASED : V4L2_STATELESS_H264_DECODE_MODE_FRAME_BASED,
       "H264_DECODE_MODE"},
      {V4L2_CID_STATELESS_H264_START_CODE,
       modes_.annex_b ? V4L2_STATELESS_H264_START_CODE_ANNEX_B : V4L2_STATELESS_H264_START_CODE_NONE,
       "H264_START_CODE"},
  };
}

// An 8-bit 4:2:0 progressive SPS of the context's profile and size. No 6.12
// driver changes its CAPTURE formats for what VA's H.264 profiles carry
// (8-bit 4:2:0 or 4:0:0): mtk-vcodec switches to MT2110R only for a 10-bit
// SPS (mtk_vcodec_dec_stateless.c, mtk_vdec_s_ctrl), so the pictures' own
// SPS, set per request later, cannot invalidate the format chosen here.
std::vector<v4l2_ext_control> H264Codec::stream_controls(uint32_t coded_width, uint32_t coded_height) {
  stream_sps_ = {};
  switch (static_cast<int>(profile_)) {
    case VAProfileH264ConstrainedBaseline:
      stream_sps_.profile_idc = 66;
      stream_sps_.constraint_set_flags = V4L2_H264_SPS_CONSTRAINT_SET1_FLAG;
      break;
    case VAProfileH264Main:
      stream_sps_.profile_idc = 77;
      break;
    default:
      stream_sps_.profile_idc = 100;
      break;
  }
  stream_sps_.level_idc = 40;
  stream_sps_.chroma_format_idc = 1;
  stream_sps_.max_num_ref_frames = 1;
  stream_sps_.pic_width_in_mbs_minus1 = static_cast<uint16_t>(std::max(coded_width / 16, 1u) - 1);
  stream_sps_.pic_height_in_map_units_minus1 = static_cast<uint16_t>(std::max(coded_height / 16, 1u) - 1);
  stream_sps_.flags = V4L2_H264_SPS_FLAG_FRAME_MBS_ONLY | V4L2_H264_SPS_FLAG_DIRECT_8X8_INFERENCE;
  std::vector<v4l2_ext_control> controls;
  append_control(controls, V4L2_CID_STATELESS_H264_SPS, &stream_sps_, sizeof(stream_sps_));
  return controls;
}

std::string H264Codec::describe() const {
  return std::string("H.264 ") + (modes_.slice_based ? "slice-based" : "frame-based") + ", " +
         (modes_.annex_b ? "Annex-B" : "no start codes");
}

void H264Codec::begin(VASurfaceID target) {
  picture_ = Picture{};
  picture_.target = target;
}

void H264Codec::abandon() { picture_ = Picture{}; }

void H264Codec::forget(VASurfaceID surface) {
  fields_.erase(surface);
  stream_.forget(surface);
  if (last_target_ == surface) last_target_ = VA_INVALID_SURFACE;
}

VAStatus H264Codec::render(const BufferView& buffer) {
  switch (buffer.type) {
    case VAPictureParameterBufferType:
      if (buffer.size < sizeof(VAPictureParameterBufferH264)) {
        log_.errorf("H.264 picture parameter buffer of %zu bytes, expected %zu", buffer.size,
                    sizeof(VAPictureParameterBufferH264));
        return VA_STATUS_ERROR_INVALID_BUFFER;
      }
      picture_.params.emplace();
      std::memcpy(&*picture_.params, buffer.data.get(), sizeof(VAPictureParameterBufferH264));
      return VA_STATUS_SUCCESS;
    case VAIQMatrixBufferType:
      if (buffer.size < sizeof(VAIQMatrixBufferH264)) {
        log_.errorf("H.264 IQ matrix buffer of %zu bytes, expected %zu", buffer.size, sizeof(VAIQMatrixBufferH264));
        return VA_STATUS_ERROR_INVALID_BUFFER;
      }
      picture_.iq.emplace();
      std::memcpy(&*picture_.iq, buffer.data.get(), sizeof(VAIQMatrixBufferH264));
      return VA_STATUS_SUCCESS;
    case VASliceParameterBufferType:
      return render_slice_params(buffer);
    case VASliceDataBufferType:
      return render_slice_data(buffer);
    default:
      log_.errorf("vaRenderPicture: buffer type %d is not used by H.264 decoding", buffer.type);
      return VA_STATUS_ERROR_UNSUPPORTED_BUFFERTYPE;
  }
}

// Several slices may share one parameter buffer (num_elements) and one data
// buffer that follows it (GStreamer renders all slices at once, ffmpeg one
// parameter + data pair per slice).
VAStatus H264Codec::render_slice_params(const BufferView& buffer) {
  if (buffer.element_size < sizeof(VASliceParameterBufferH264) || buffer.num_elements == 0 ||
      buffer.size / buffer.element_size < buffer.num_elements) {
    log_.errorf("H.264 slice parameter buffer: %u elements of %u bytes (need >= %zu each) in %zu bytes",
                buffer.num_elements, buffer.element_size, sizeof(VASliceParameterBufferH264), buffer.size);
    return VA_STATUS_ERROR_INVALID_BUFFER;
  }
  if (buffer.num_elements > max_slices_ - std::min<size_t>(picture_.slices.size(), max_slices_)) {
    log_.errorf("H.264 picture for surface 0x%08x: more than %u slices (one per macroblock at most)",
                picture_.target, max_slices_);
    return VA_STATUS_ERROR_MAX_NUM_EXCEEDED;
  }
  for (uint32_t i = 0; i < buffer.num_elements; ++i) {
    VASliceParameterBufferH264 param;
    std::memcpy(&param, buffer.data.get() + size_t(i) * buffer.element_size, sizeof(param));
    picture_.slices.push_back(param);
  }
  picture_.slices_waiting_for_data += buffer.num_elements;
  return VA_STATUS_SUCCESS;
}

// The slice bytes stay in the client's VA buffer (shared ownership); they
// are copied once, straight into the OUTPUT buffer, when the picture is
// queued.
VAStatus H264Codec::render_slice_data(const BufferView& buffer) {
  if (picture_.slices_waiting_for_data == 0) {
    log_.errorf("H.264 slice data buffer without slice parameters before it");
    return VA_STATUS_ERROR_INVALID_BUFFER;
  }
  const size_t first = picture_.slices.size() - picture_.slices_waiting_for_data;
  for (size_t i = first; i < picture_.slices.size(); ++i) {
    const VASliceParameterBufferH264& p = picture_.slices[i];
    if (p.slice_data_size == 0 || p.slice_data_offset > buffer.size ||
        p.slice_data_size > buffer.size - p.slice_data_offset) {
      log_.errorf("slice %zu: data offset %u + size %u outside its data buffer (%zu bytes)", i, p.slice_data_offset,
                  p.slice_data_size, buffer.size);
      return VA_STATUS_ERROR_INVALID_BUFFER;
    }
  }
  for (size_t i = first; i < picture_.slices.size(); ++i) {
    const VASliceParameterBufferH264& p = picture_.slices[i];
    picture_.slice_data.push_back(SliceData{buffer.data, p.slice_data_offset, p.slice_data_size});
  }
  picture_.slices_waiting_for_data = 0;
  return VA_STATUS_SUCCESS;
}

// Both fields of a frame decode into one surface with one timestamp, so a
// DPB entry naming the first field also names the finished frame.
bool H264Codec::is_second_field(const ReferencePictures& references) {
  const VAPictureParameterBufferH264& pic = *picture_.params;
  const uint32_t flags = pic.CurrPic.flags;
  const Structure structure = (flags & VA_PICTURE_H264_TOP_FIELD)      ? Structure::TopField
                              : (flags & VA_PICTURE_H264_BOTTOM_FIELD) ? Structure::BottomField
                                                                       : Structure::Frame;
  FieldState& state = fields_[picture_.target];
  const bool second = structure != Structure::Frame && last_target_ == picture_.target &&
                      references.timestamp_of(picture_.target).has_value() && state.structure != Structure::Frame &&
                      state.structure != structure && state.frame_num == pic.frame_num;
  state.structure = second ? Structure::Frame : structure;
  state.frame_num = pic.frame_num;
  last_target_ = picture_.target;
  return second;
}

// A reference with no decoded picture (lost in transmission and replaced by
// the client, or lost to a device fault) is replaced by the reference whose
// picture order count is closest, else by the latest picture of the
// context: the device decodes and the damage stays local, where refusing the
// picture would lose every picture up to the next IDR. The DPB entry keeps
// the client's frame_num and POCs, which the kernel uses to build the lists.
std::unordered_map<VASurfaceID, uint64_t> H264Codec::conceal_missing(const ReferencePictures& references,
                                                                    unsigned& concealed) const {
  std::unordered_map<VASurfaceID, uint64_t> substitutes;
  const VAPictureParameterBufferH264& pic = *picture_.params;
  for (const VAPictureH264& missing : pic.ReferenceFrames) {
    if (!is_reference(missing) || references.timestamp_of(missing.picture_id) ||
        substitutes.count(missing.picture_id))
      continue;
    std::optional<uint64_t> best;
    int64_t best_distance = std::numeric_limits<int64_t>::max();
    for (const VAPictureH264& candidate : pic.ReferenceFrames) {
      if (!is_reference(candidate)) continue;
      const std::optional<uint64_t> ts = references.timestamp_of(candidate.picture_id);
      const int64_t distance = std::llabs(int64_t{order_of(candidate)} - order_of(missing));
      if (ts && distance < best_distance) {
        best = ts;
        best_distance = distance;
      }
    }
    substitutes[missing.picture_id] = best.value_or(references.latest.value_or(kNoPicture));
    ++concealed;
  }
  return substitutes;
}

VAStatus H264Codec::check_size(uint32_t coded_width, uint32_t coded_height) const {
  const v4l2_ctrl_h264_sps& sps = controls_.sps;
  const uint32_t width = (sps.pic_width_in_mbs_minus1 + 1u) * 16u;
  const uint32_t map_units = sps.pic_height_in_map_units_minus1 + 1u;
  const uint32_t height = map_units * ((sps.flags & V4L2_H264_SPS_FLAG_FRAME_MBS_ONLY) ? 16u : 32u);
  if (width > coded_width || height > coded_height) {
    log_.errorf("picture for surface 0x%08x is %ux%u, larger than the context's %ux%u CAPTURE buffers",
                picture_.target, width, height, coded_width, coded_height);
    return VA_STATUS_ERROR_RESOLUTION_NOT_SUPPORTED;
  }
  return VA_STATUS_SUCCESS;
}

VAStatus H264Codec::end(const ReferencePictures& references, uint32_t coded_width, uint32_t coded_height,
                        PicturePlan& plan) {
  plan = PicturePlan{};
  Picture& p = picture_;
  if (!p.params || p.slices.empty() || p.slice_data.size() != p.slices.size()) {
    log_.errorf("vaEndPicture: incomplete H.264 picture for surface 0x%08x (%s, %zu slice parameters, %zu slice data)",
                p.target, p.params ? "picture parameters" : "no picture parameters", p.slices.size(),
                p.slice_data.size());
    return VA_STATUS_ERROR_INVALID_PARAMETER;
  }
  std::vector<SliceInput> slices;
  slices.reserve(p.slices.size());
  for (size_t i = 0; i < p.slices.size(); ++i)
    slices.push_back(SliceInput{&p.slices[i], p.slice_data[i].bytes(), p.slice_data[i].size});

  const std::unordered_map<VASurfaceID, uint64_t> substitutes = conceal_missing(references, plan.concealed_references);
  // The DPB names references by the timestamp of the picture now in each
  // reference surface (ext-ctrls-codec-stateless.rst, v4l2_h264_dpb_entry).
  ReferenceTimestamp reference_ts = [&](VASurfaceID surface) -> std::optional<uint64_t> {
    if (auto found = substitutes.find(surface); found != substitutes.end()) return found->second;
    return references.timestamp_of(surface);
  };
  std::string error;
  if (VAStatus st = translate_picture(*p.params, p.iq ? &*p.iq : nullptr, slices, reference_ts, stream_, controls_,
                                      error);
      st != VA_STATUS_SUCCESS) {
    log_.errorf("H.264 picture for surface 0x%08x: %s", p.target, error.c_str());
    return st;
  }
  if (VAStatus st = check_size(coded_width, coded_height); st != VA_STATUS_SUCCESS) return st;
  if (plan.concealed_references)
    log_.errorf("H.264 picture for surface 0x%08x (frame_num %u): %u reference(s) had no decoded picture; "
                "another picture stands in for them",
                p.target, p.params->frame_num, plan.concealed_references);
  plan.second_field = is_second_field(references);
  plan_requests(plan);
  return VA_STATUS_SUCCESS;
}

void H264Codec::plan_requests(PicturePlan& plan) {
  PictureControls& c = controls_;
  std::vector<v4l2_ext_control> picture_controls;
  append_control(picture_controls, V4L2_CID_STATELESS_H264_SPS, &c.sps, sizeof(c.sps));
  append_control(picture_controls, V4L2_CID_STATELESS_H264_PPS, &c.pps, sizeof(c.pps));
  if (caps_.has_scaling_matrix)
    append_control(picture_controls, V4L2_CID_STATELESS_H264_SCALING_MATRIX, &c.scaling_matrix,
                   sizeof(c.scaling_matrix));
  append_control(picture_controls, V4L2_CID_STATELESS_H264_DECODE_PARAMS, &c.decode_params, sizeof(c.decode_params));

  const std::span<const uint8_t> prefix =
      modes_.annex_b ? std::span<const uint8_t>(kStartCode) : std::span<const uint8_t>();
  const size_t count = picture_.slice_data.size();
  if (!modes_.slice_based) {
    PlannedRequest request;
    request.controls = std::move(picture_controls);
    for (const SliceData& data : picture_.slice_data) request.pieces.push_back({prefix, {data.bytes(), data.size}});
    plan.requests.push_back(std::move(request));
    return;
  }
  // Slice-based devices (cedrus) take one slice per request, with its own
  // SLICE_PARAMS and PRED_WEIGHTS.
  plan.requests.reserve(count);
  for (size_t i = 0; i < count; ++i) {
    PlannedRequest request;
    request.controls = picture_controls;
    if (caps_.has_slice_params)
      append_control(request.controls, V4L2_CID_STATELESS_H264_SLICE_PARAMS, &c.slice_params[i],
                     sizeof(c.slice_params[i]));
    if (caps_.has_pred_weights && c.needs_pred_weights)
      append_control(request.controls, V4L2_CID_STATELESS_H264_PRED_WEIGHTS, &c.pred_weights[i],
                     sizeof(c.pred_weights[i]));
    const SliceData& data = picture_.slice_data[i];
    request.pieces.push_back({prefix, {data.bytes(), data.size}});
    plan.requests.push_back(std::move(request));
  }
}

}  // namespace v4l2va::h264
