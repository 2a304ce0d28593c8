// vaBeginPicture / vaRenderPicture / vaEndPicture: collect the VA buffers of
// one picture, translate them to V4L2 controls, write the bitstream into a
// request slot and queue it. EndPicture does not wait for the decode: the
// waits live in the slot pool and are triggered by sync/map/export of the
// surface, or by back-pressure when every slot is in flight.
#include <cstring>

#include "context.h"

namespace v4l2va {
namespace {

void append_control(std::vector<v4l2_ext_control>& controls, uint32_t id, void* ptr, size_t size) {
  v4l2_ext_control ctrl{};
  ctrl.id = id;
  ctrl.size = static_cast<uint32_t>(size);
  ctrl.ptr = ptr;
  controls.push_back(ctrl);
}

}  // namespace

VAStatus Context::begin_picture(const std::shared_ptr<Surface>& target) {
  if (VAStatus st = bind_surface(target); st != VA_STATUS_SUCCESS) return st;
  // A surface's CAPTURE buffer must be back from the device before it is
  // queued again: QBUF of a queued buffer is EINVAL (vidioc-qbuf.rst).
  if (VAStatus st = drain_surface(*target); st != VA_STATUS_SUCCESS) return st;
  picture_ = PendingPicture{};
  picture_.target = target;
  in_picture_ = true;
  return VA_STATUS_SUCCESS;
}

VAStatus Context::render_buffer(Buffer& buffer) {
  if (!in_picture_) {
    driver_.log.errorf("vaRenderPicture outside vaBeginPicture/vaEndPicture on context 0x%08x", id);
    return VA_STATUS_ERROR_INVALID_CONTEXT;
  }
  switch (buffer.type) {
    case VAPictureParameterBufferType:
      if (buffer.size() < sizeof(VAPictureParameterBufferH264)) return VA_STATUS_ERROR_INVALID_BUFFER;
      picture_.pic.emplace();
      std::memcpy(&*picture_.pic, buffer.bytes(), sizeof(VAPictureParameterBufferH264));
      return VA_STATUS_SUCCESS;
    case VAIQMatrixBufferType:
      if (buffer.size() < sizeof(VAIQMatrixBufferH264)) return VA_STATUS_ERROR_INVALID_BUFFER;
      picture_.iq.emplace();
      std::memcpy(&*picture_.iq, buffer.bytes(), sizeof(VAIQMatrixBufferH264));
      return VA_STATUS_SUCCESS;
    case VASliceParameterBufferType: {
      // Several slices may share one parameter buffer (num_elements) and one
      // data buffer that follows it (GStreamer renders all slices at once,
      // ffmpeg one param + data pair per slice).
      if (buffer.element_size < sizeof(VASliceParameterBufferH264) ||
          buffer.size() < size_t(buffer.element_size) * buffer.num_elements)
        return VA_STATUS_ERROR_INVALID_BUFFER;
      for (uint32_t i = 0; i < buffer.num_elements; ++i) {
        VASliceParameterBufferH264 param;
        std::memcpy(&param, buffer.bytes() + size_t(i) * buffer.element_size, sizeof(param));
        picture_.slices.push_back(param);
      }
      picture_.slices_waiting_for_data += buffer.num_elements;
      return VA_STATUS_SUCCESS;
    }
    case VASliceDataBufferType: {
      size_t first = picture_.slices.size() - picture_.slices_waiting_for_data;
      for (size_t i = first; i < picture_.slices.size(); ++i) {
        const VASliceParameterBufferH264& p = picture_.slices[i];
        if (size_t(p.slice_data_offset) + p.slice_data_size > buffer.size()) {
          driver_.log.errorf("slice %zu: data offset %u + size %u exceeds its data buffer (%zu bytes)", i,
                             p.slice_data_offset, p.slice_data_size, buffer.size());
          return VA_STATUS_ERROR_INVALID_BUFFER;
        }
        const uint8_t* begin = buffer.bytes() + p.slice_data_offset;
        picture_.slice_data.emplace_back(begin, begin + p.slice_data_size);
      }
      picture_.slices_waiting_for_data = 0;
      return VA_STATUS_SUCCESS;
    }
    default:
      driver_.log.errorf("vaRenderPicture: buffer type %d is not supported for H.264 decoding", buffer.type);
      return VA_STATUS_ERROR_UNSUPPORTED_BUFFERTYPE;
  }
}

// Both fields of a frame decode into one surface with one timestamp, so a
// DPB entry naming the first field also names the finished frame.
uint64_t Context::timestamp_for(Surface& target, const VAPictureParameterBufferH264& pic) {
  const uint32_t flags = pic.CurrPic.flags;
  Surface::Structure structure = (flags & VA_PICTURE_H264_TOP_FIELD)      ? Surface::Structure::TopField
                                 : (flags & VA_PICTURE_H264_BOTTOM_FIELD) ? Surface::Structure::BottomField
                                                                          : Surface::Structure::Frame;
  bool second_field = structure != Surface::Structure::Frame && target.has_picture &&
                      last_target_.get() == &target && target.structure != Surface::Structure::Frame &&
                      target.structure != structure && target.frame_num == pic.frame_num;
  target.structure = second_field ? Surface::Structure::Frame : structure;
  target.frame_num = pic.frame_num;
  if (second_field) return target.timestamp_ns;
  return (next_timestamp_++) * 1000ull;
}

std::vector<v4l2_ext_control> Context::frame_controls(h264::PictureControls& c) const {
  std::vector<v4l2_ext_control> controls;
  append_control(controls, V4L2_CID_STATELESS_H264_SPS, &c.sps, sizeof(c.sps));
  append_control(controls, V4L2_CID_STATELESS_H264_PPS, &c.pps, sizeof(c.pps));
  if (decoder_.has_scaling_matrix)
    append_control(controls, V4L2_CID_STATELESS_H264_SCALING_MATRIX, &c.scaling_matrix, sizeof(c.scaling_matrix));
  append_control(controls, V4L2_CID_STATELESS_H264_DECODE_PARAMS, &c.decode_params, sizeof(c.decode_params));
  return controls;
}

size_t Context::write_slice(uint8_t* dst, size_t capacity, const std::vector<uint8_t>& nal) const {
  static constexpr uint8_t kStartCode[3] = {0, 0, 1};
  size_t need = nal.size() + (annex_b_ ? sizeof(kStartCode) : 0);
  if (need > capacity) return 0;
  size_t at = 0;
  if (annex_b_) {
    std::memcpy(dst, kStartCode, sizeof(kStartCode));
    at = sizeof(kStartCode);
  }
  std::memcpy(dst + at, nal.data(), nal.size());
  return need;
}

VAStatus Context::submit_frame(h264::PictureControls& controls, uint64_t timestamp_ns) {
  RequestSlot* slot = nullptr;
  if (VAStatus st = pool_->bind(slot, sink()); st != VA_STATUS_SUCCESS) return st;
  size_t used = 0;
  for (const auto& nal : picture_.slice_data) {
    size_t n = write_slice(slot->bitstream() + used, slot->bitstream_capacity() - used, nal);
    if (n == 0) {
      driver_.log.errorf("picture for surface 0x%08x: slices exceed the OUTPUT buffer (%zu bytes)",
                         picture_.target->id, slot->bitstream_capacity());
      pool_->release_unqueued(*slot);
      return VA_STATUS_ERROR_NOT_ENOUGH_BUFFER;
    }
    used += n;
  }
  Submission sub;
  sub.controls = frame_controls(controls);
  sub.bytesused = static_cast<uint32_t>(used);
  sub.capture = picture_.target->capture;
  sub.timestamp_ns = timestamp_ns;
  uint64_t sequence = 0;
  if (VAStatus st = pool_->queue(*slot, sub, sequence); st != VA_STATUS_SUCCESS) return st;
  picture_.target->sequence = sequence;
  return VA_STATUS_SUCCESS;
}

// Slice-based devices take one slice per request; the CAPTURE buffer is
// queued with the first and held (V4L2_BUF_FLAG_M2M_HOLD_CAPTURE_BUF) until
// the last slice of the picture (dev-stateless-decoder.rst, "Decoding").
VAStatus Context::submit_slices(h264::PictureControls& controls, uint64_t timestamp_ns) {
  const size_t count = picture_.slice_data.size();
  for (size_t i = 0; i < count; ++i) {
    RequestSlot* slot = nullptr;
    if (VAStatus st = pool_->bind(slot, sink()); st != VA_STATUS_SUCCESS) return st;
    size_t used = write_slice(slot->bitstream(), slot->bitstream_capacity(), picture_.slice_data[i]);
    if (used == 0) {
      driver_.log.errorf("slice %zu for surface 0x%08x exceeds the OUTPUT buffer", i, picture_.target->id);
      pool_->release_unqueued(*slot);
      return VA_STATUS_ERROR_NOT_ENOUGH_BUFFER;
    }
    Submission sub;
    sub.controls = frame_controls(controls);
    if (decoder_.has_slice_params)
      append_control(sub.controls, V4L2_CID_STATELESS_H264_SLICE_PARAMS, &controls.slice_params[i],
                     sizeof(controls.slice_params[i]));
    if (decoder_.has_pred_weights && i < controls.pred_weights.size() && controls.needs_pred_weights)
      append_control(sub.controls, V4L2_CID_STATELESS_H264_PRED_WEIGHTS, &controls.pred_weights[i],
                     sizeof(controls.pred_weights[i]));
    sub.bytesused = static_cast<uint32_t>(used);
    sub.capture = picture_.target->capture;
    sub.queue_capture = i == 0;
    sub.hold_capture = i + 1 < count;
    sub.timestamp_ns = timestamp_ns;
    uint64_t sequence = 0;
    if (VAStatus st = pool_->queue(*slot, sub, sequence); st != VA_STATUS_SUCCESS) return st;
    picture_.target->sequence = sequence;
  }
  return VA_STATUS_SUCCESS;
}

VAStatus Context::end_picture() {
  if (!in_picture_) {
    driver_.log.errorf("vaEndPicture without vaBeginPicture on context 0x%08x", id);
    return VA_STATUS_ERROR_INVALID_CONTEXT;
  }
  in_picture_ = false;
  PendingPicture& p = picture_;
  if (!p.pic || p.slices.empty() || p.slice_data.size() != p.slices.size()) {
    driver_.log.errorf("vaEndPicture on context 0x%08x: incomplete picture (%s, %zu slice params, %zu slice data)",
                       id, p.pic ? "picture params" : "no picture params", p.slices.size(), p.slice_data.size());
    picture_ = PendingPicture{};
    return VA_STATUS_ERROR_INVALID_PARAMETER;
  }

  std::vector<h264::SliceInput> slices;
  slices.reserve(p.slices.size());
  for (size_t i = 0; i < p.slices.size(); ++i)
    slices.push_back(h264::SliceInput{&p.slices[i], p.slice_data[i].data(), p.slice_data[i].size()});

  // The DPB names references by the timestamp of the picture now in each
  // reference surface (ext-ctrls-codec-stateless.rst, v4l2_h264_dpb_entry).
  h264::ReferenceTimestamp reference_ts = [this](VASurfaceID sid) -> std::optional<uint64_t> {
    auto s = driver_.surfaces.find(sid);
    if (!s || !s->has_picture) return std::nullopt;
    return s->timestamp_ns;
  };
  h264::PictureControls controls;
  std::string error;
  if (VAStatus st = h264::translate_picture(*p.pic, p.iq ? &*p.iq : nullptr, slices, reference_ts, stream_, controls,
                                            error);
      st != VA_STATUS_SUCCESS) {
    driver_.log.errorf("picture for surface 0x%08x: %s", p.target->id, error.c_str());
    picture_ = PendingPicture{};
    return st;
  }

  // CAPTURE can only stream once it has buffers (vb2: STREAMON with no
  // buffers is EINVAL), and they may be created after the context.
  if (VAStatus st = capture_queue_->stream_on(); st != VA_STATUS_SUCCESS) {
    picture_ = PendingPicture{};
    return st;
  }
  Surface& target = *p.target;
  uint64_t timestamp_ns = timestamp_for(target, *p.pic);
  VAStatus st = slice_based_ ? submit_slices(controls, timestamp_ns) : submit_frame(controls, timestamp_ns);
  if (st == VA_STATUS_SUCCESS) {
    target.has_picture = true;
    target.timestamp_ns = timestamp_ns;
    target.decode_status = VA_STATUS_SUCCESS;
    last_target_ = p.target;
  } else {
    target.decode_status = st;
  }
  picture_ = PendingPicture{};
  return st;
}

}  // namespace v4l2va

namespace v4l2va::va {

VAStatus BeginPicture(VADriverContextP ctx, VAContextID context_id, VASurfaceID target) {
  Driver& d = driver_of(ctx);
  auto context = d.contexts.find(context_id);
  if (!context) return VA_STATUS_ERROR_INVALID_CONTEXT;
  auto surface = d.surfaces.find(target);
  if (!surface) return VA_STATUS_ERROR_INVALID_SURFACE;
  std::lock_guard lock(context->mutex);
  return context->begin_picture(surface);
}

VAStatus RenderPicture(VADriverContextP ctx, VAContextID context_id, VABufferID* buffers, int count) {
  Driver& d = driver_of(ctx);
  auto context = d.contexts.find(context_id);
  if (!context) return VA_STATUS_ERROR_INVALID_CONTEXT;
  std::lock_guard lock(context->mutex);
  for (int i = 0; i < count; ++i) {
    auto buffer = d.buffers.find(buffers[i]);
    if (!buffer) return VA_STATUS_ERROR_INVALID_BUFFER;
    if (VAStatus st = context->render_buffer(*buffer); st != VA_STATUS_SUCCESS) return st;
  }
  return VA_STATUS_SUCCESS;
}

VAStatus EndPicture(VADriverContextP ctx, VAContextID context_id) {
  Driver& d = driver_of(ctx);
  auto context = d.contexts.find(context_id);
  if (!context) return VA_STATUS_ERROR_INVALID_CONTEXT;
  std::lock_guard lock(context->mutex);
  return context->end_picture();
}

}  // namespace v4l2va::va
