// vaBeginPicture / vaRenderPicture / vaEndPicture: the codec collects the VA
// buffers of one picture and plans its requests; the context writes each
// request's bitstream straight into a slot's OUTPUT mapping and queues it.
// EndPicture does not wait for the decode: the waits live in the slot pool
// and are triggered by sync/map/export of the surface, or by back-pressure
// when every slot is in flight.
#include "context.h"

namespace v4l2va {

VAStatus Context::begin_picture(const std::shared_ptr<Surface>& target) {
  if (device_gone()) return VA_STATUS_ERROR_OPERATION_FAILED;
  if (target_) {
    // A second vaBeginPicture drops the picture that was not ended.
    driver_.log.errorf("vaBeginPicture on context 0x%08x while a picture for surface 0x%08x was not ended; dropping it",
                       id, target_->id);
    codec_->abandon();
    target_.reset();
  }
  if (VAStatus st = bind_surface(target); st != VA_STATUS_SUCCESS) return st;
  // A surface's CAPTURE buffer must be back from the device before it is
  // queued again: QBUF of a queued buffer is EINVAL (vidioc-qbuf.rst).
  if (VAStatus st = drain_surface(*target); st != VA_STATUS_SUCCESS) return st;
  codec_->begin(target->id);
  target_ = target;
  return VA_STATUS_SUCCESS;
}

VAStatus Context::render_buffer(const std::shared_ptr<Buffer>& buffer) {
  if (!target_) {
    driver_.log.errorf("vaRenderPicture without vaBeginPicture on context 0x%08x", id);
    return VA_STATUS_ERROR_OPERATION_FAILED;
  }
  BufferView view;
  view.type = buffer->type;
  view.element_size = buffer->element_size;
  view.num_elements = buffer->num_elements;
  view.size = buffer->size();
  // Shares the VA buffer's ownership: its bytes stay valid until the
  // picture is queued, even if the client destroys the buffer first.
  view.data = std::shared_ptr<const uint8_t>(buffer, buffer->bytes());
  return codec_->render(view);
}

// Writes each planned request into a slot and queues it. The CAPTURE buffer
// goes with the first request and, on slice-based devices, is held until the
// last (V4L2_BUF_FLAG_M2M_HOLD_CAPTURE_BUF, dev-stateless-decoder.rst).
VAStatus Context::submit(PicturePlan& plan, Surface& target, uint64_t timestamp_ns) {
  const size_t count = plan.requests.size();
  for (size_t i = 0; i < count; ++i) {
    Result<FillingSlot> slot = pool_->acquire();
    VAStatus st = slot.status();
    if (slot.ok()) {
      for (const BitstreamPiece& piece : plan.requests[i].pieces) {
        if (slot->append(piece.prefix, piece.bytes)) continue;
        driver_.log.errorf("picture for surface 0x%08x: request %zu does not fit the %zu-byte OUTPUT buffer", target.id,
                           i, slot->capacity());
        st = VA_STATUS_ERROR_NOT_ENOUGH_BUFFER;
        break;
      }
    }
    if (st == VA_STATUS_SUCCESS) {
      Submission sub;
      sub.controls = plan.requests[i].controls;
      sub.capture = target.capture;
      sub.queue_capture = i == 0;
      sub.hold_capture = i + 1 < count;
      sub.timestamp_ns = timestamp_ns;
      Result<uint64_t> sequence = pool_->queue(std::move(*slot), sub);
      st = sequence.status();
      if (sequence.ok()) {
        target.sequence = *sequence;
        if (i == 0) {
          target.picture = Surface::Picture::InFlight;
          target.timestamp_ns = timestamp_ns;
          target.referencable = true;
        }
        continue;
      }
    }
    // Slices already queued hold the CAPTURE buffer for a last slice that
    // will not come: only a reset gives it back.
    if (i > 0) pool_->abandon_picture("a slice-based picture could not queue all its slices");
    target.picture = Surface::Picture::Lost;
    target.referencable = false;
    return st;
  }
  return VA_STATUS_SUCCESS;
}

VAStatus Context::end_picture() {
  if (!target_) {
    driver_.log.errorf("vaEndPicture without vaBeginPicture on context 0x%08x", id);
    return VA_STATUS_ERROR_OPERATION_FAILED;
  }
  std::shared_ptr<Surface> target = std::move(target_);
  const Format& cf = capture_queue_->format();
  PicturePlan plan;
  if (VAStatus st = codec_->end(references(), cf.width, cf.height, plan); st != VA_STATUS_SUCCESS) return st;
  if (device_gone()) return VA_STATUS_ERROR_OPERATION_FAILED;
  // CAPTURE can only stream once it has buffers (vb2: STREAMON with no
  // buffers is EINVAL), and they may be created after the context; a queue
  // reset may also have left a queue stopped.
  if (VAStatus st = output_queue_->stream_on(); st != VA_STATUS_SUCCESS) return st;
  if (VAStatus st = capture_queue_->stream_on(); st != VA_STATUS_SUCCESS) return st;
  const uint64_t timestamp_ns =
      plan.second_field && target->referencable ? target->timestamp_ns : new_timestamp();
  const bool damaged_first_field =
      plan.second_field && (target->picture == Surface::Picture::Damaged || target->known_damaged);
  target->known_damaged = plan.concealed_references > 0 || damaged_first_field;
  return submit(plan, *target, timestamp_ns);
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
  if (count < 0 || (count > 0 && !buffers)) {
    d.log.errorf("vaRenderPicture: %d buffers at %p", count, static_cast<void*>(buffers));
    return VA_STATUS_ERROR_INVALID_PARAMETER;
  }
  std::lock_guard lock(context->mutex);
  for (int i = 0; i < count; ++i) {
    auto buffer = d.buffers.find(buffers[i]);
    if (!buffer) return VA_STATUS_ERROR_INVALID_BUFFER;
    if (VAStatus st = context->render_buffer(buffer); st != VA_STATUS_SUCCESS) return st;
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
