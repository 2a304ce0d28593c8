#include "context.h"

#include <fcntl.h>
#include <linux/v4l2-controls.h>

#include <algorithm>
#include <cstring>
#include <string>

#include "discovery/discovery.h"
#include "codecs.h"
#include "v4l2/picture_layout.h"

namespace v4l2va {

Context::Context(Driver& driver, const Config& cfg, const DecoderCapabilities& decoder, uint32_t w, uint32_t h,
                 bool is_staging)
    : serial(++driver.context_serials),
      staging(is_staging),
      config(cfg),
      width(w),
      height(h),
      driver_(driver),
      decoder_(decoder) {}

Context::~Context() {
  std::lock_guard lock(mutex);
  // Pictures in flight finish (or are cancelled) before anything they use
  // goes away.
  if (pool_) pool_->drain_all();
  // STREAMOFF returns every buffer still queued; then nothing of this
  // instance is referenced by the kernel when the fds close.
  if (capture_queue_) capture_queue_->stream_off();
  if (output_queue_) output_queue_->stream_off();
  // The surfaces bound to this context keep their last picture (its
  // mapping and dma-bufs) and can be bound again by another context.
  for (CaptureBuffer& buffer : captures_) {
    if (buffer.owner == VA_INVALID_SURFACE) continue;
    auto surface = driver_.surfaces.find(buffer.owner);
    if (!surface) continue;
    std::shared_ptr<DetachedPicture> detached = detach_picture(buffer, *surface);
    std::lock_guard binding(surface->binding_mutex);
    if (surface->bound && surface->context.expired()) {
      surface->bound = false;
      surface->detached = std::move(detached);
      if (!surface->detached) surface->picture = Surface::Picture::None;
      surface->referencable = false;
      surface->sequence = 0;
    }
  }
}

// What a surface keeps of its picture when this context goes: the
// mapping, and the dma-bufs exported now, while the queue still exists.
std::shared_ptr<DetachedPicture> Context::detach_picture(CaptureBuffer& buffer, Surface& surface) {
  if (surface.picture != Surface::Picture::Decoded && surface.picture != Surface::Picture::Damaged) return nullptr;
  if (buffer.memory.planes.empty()) return nullptr;
  auto detached = std::make_shared<DetachedPicture>();
  detached->format = capture_queue_->format();
  const uint32_t objects = std::min<uint32_t>(detached->format.num_planes, 2);
  for (uint32_t p = 0; p < objects; ++p)
    if (capture_queue_->export_plane(buffer.memory.index, p, O_RDWR | O_CLOEXEC, detached->dmabufs[p]) !=
        VA_STATUS_SUCCESS)
      return nullptr;
  detached->memory = std::move(buffer.memory);
  return detached;
}

VAStatus Context::set_device_control(const DeviceControl& control) {
  v4l2_ext_control ctrl{};
  ctrl.id = control.id;
  ctrl.value = control.value;
  v4l2_ext_controls ext{};
  ext.which = V4L2_CTRL_WHICH_CUR_VAL;
  ext.count = 1;
  ext.controls = &ctrl;
  if (int err = video_->call(VIDIOC_S_EXT_CTRLS, &ext, "VIDIOC_S_EXT_CTRLS", control.name))
    return status_from_errno(err);
  return VA_STATUS_SUCCESS;
}

// What the context will decode, before the CAPTURE formats are read. A
// device that refuses it still decodes (each request carries its own SPS),
// so this is logged, not fatal.
void Context::set_stream_controls(uint32_t coded_width, uint32_t coded_height) {
  std::vector<v4l2_ext_control> controls = codec_->stream_controls(coded_width, coded_height);
  if (controls.empty()) return;
  v4l2_ext_controls ext{};
  ext.which = V4L2_CTRL_WHICH_CUR_VAL;
  ext.count = static_cast<uint32_t>(controls.size());
  ext.controls = controls.data();
  if (video_->call(VIDIOC_S_EXT_CTRLS, &ext, "VIDIOC_S_EXT_CTRLS", "stream header before CAPTURE formats"))
    driver_.log.infof("%s: CAPTURE formats are read without a stream header", video_->path().c_str());
}

VAStatus Context::create_codec() {
  Result<std::unique_ptr<Codec>> codec = v4l2va::create_codec(config.profile, decoder_, width, height, driver_.log);
  if (!codec.ok()) return codec.status();
  codec_ = std::move(*codec);
  for (const DeviceControl& control : codec_->device_controls())
    if (VAStatus st = set_device_control(control); st != VA_STATUS_SUCCESS) return st;
  return VA_STATUS_SUCCESS;
}

// The CAPTURE formats follow the OUTPUT format (dev-stateless-decoder.rst,
// "Initialization"). Of those offered, the driver takes linear NV12 in one
// buffer, else in two (NV12M), else a tiled layout it can read back
// (NV12_32L32, MM21); the device's default is kept when it is the best.
VAStatus Context::choose_capture_format() {
  if (VAStatus st = capture_queue_->read_format(); st != VA_STATUS_SUCCESS) return st;
  std::optional<uint32_t> best;
  for (uint32_t offered : capture_queue_->enum_formats()) {
    const int rank = capture_format_rank(offered);
    if (rank >= 0 && (!best || rank < capture_format_rank(*best))) best = offered;
  }
  if (!best) {
    driver_.log.errorf("%s: CAPTURE queue offers no NV12, NV12M, NV12_32L32 or MM21 format", video_->path().c_str());
    return VA_STATUS_ERROR_UNSUPPORTED_RT_FORMAT;
  }
  if (capture_queue_->format().pixelformat == *best) return VA_STATUS_SUCCESS;
  return capture_queue_->set_format(*best, width, height, 0);
}

VAStatus Context::open(std::span<const VASurfaceID> render_targets) {
  const DecoderCapabilities& caps = decoder_;
  if (VAStatus st = VideoDevice::open(caps.video_path, driver_.log, video_); st != VA_STATUS_SUCCESS) return st;
  if (VAStatus st = MediaDevice::open(caps.media_path, driver_.log, media_); st != VA_STATUS_SUCCESS) return st;
  output_queue_ = std::make_unique<Queue>(*video_, caps.planes, Queue::Direction::Output);
  capture_queue_ = std::make_unique<Queue>(*video_, caps.planes, Queue::Direction::Capture);
  if (VAStatus st = create_codec(); st != VA_STATUS_SUCCESS) return st;

  // OUTPUT first: the CAPTURE format is derived from it, and setting CAPTURE
  // first gives EBUSY on Hantro and Cedrus (dev-stateless-decoder.rst,
  // "Initialization").
  const uint32_t coded_w = (width + 15) & ~15u;
  const uint32_t coded_h = (height + 15) & ~15u;
  const uint32_t bitstream_size = std::max<uint32_t>(coded_w * coded_h * 3 / 2, 1024 * 1024);
  // The coded size in whole macroblocks: drivers that round to their frmsize
  // step round to the nearest step (v4l2_apply_frmsize_constraints), which
  // would cut the last rows of a VP8/VP9 picture of odd height.
  if (VAStatus st = output_queue_->set_format(codec_->coded_format(), coded_w, coded_h, bitstream_size);
      st != VA_STATUS_SUCCESS)
    return st;
  set_stream_controls(coded_w, coded_h);
  if (VAStatus st = choose_capture_format(); st != VA_STATUS_SUCCESS) return st;
  const Format& cf = capture_queue_->format();
  driver_.log.infof("context %ux%u on %s: %s, CAPTURE %ux%u pitch %u, %u plane(s)", width, height,
                    video_->path().c_str(), codec_->describe().c_str(), cf.width, cf.height,
                    cf.planes[0].bytesperline, cf.num_planes);

  PoolEvents& events = *this;
  pool_ = std::make_unique<SlotPool>(*video_, *media_, *output_queue_, *capture_queue_, events, driver_.timeout_ms);
  if (VAStatus st = pool_->create(driver_.slot_count); st != VA_STATUS_SUCCESS) return st;
  if (VAStatus st = output_queue_->stream_on(); st != VA_STATUS_SUCCESS) return st;

  for (VASurfaceID id : render_targets) {
    auto surface = driver_.surfaces.find(id);
    if (!surface) {
      driver_.log.errorf("vaCreateContext: render target 0x%08x is not a surface", id);
      return VA_STATUS_ERROR_INVALID_SURFACE;
    }
    if (VAStatus st = bind_surface(surface); st != VA_STATUS_SUCCESS) return st;
  }
  return VA_STATUS_SUCCESS;
}

VAStatus Context::take_from_staging(Surface& surface, Context& staging_context) {
  // Lock order: a client's context, then the staging context (which never
  // takes another context's lock).
  std::lock_guard lock(staging_context.mutex);
  staging_context.unbind_surface(surface);
  driver_.log.infof("surface 0x%08x moves from the staging context to context 0x%08x; dma-bufs exported from it "
                    "before do not show its pictures",
                    surface.id, id);
  return VA_STATUS_SUCCESS;
}

VAStatus Context::bind_surface(const std::shared_ptr<Surface>& surface) {
  // The device writes whole CAPTURE buffers of the context's format; a
  // larger surface would make images and exports reach past them.
  const Format& f = capture_queue_->format();
  if (surface->width > f.width || surface->height > f.height) {
    driver_.log.errorf("surface 0x%08x (%ux%u) is larger than the CAPTURE buffers of context 0x%08x (%ux%u)",
                       surface->id, surface->width, surface->height, id, f.width, f.height);
    return VA_STATUS_ERROR_INVALID_SURFACE;
  }
  std::unique_lock binding(surface->binding_mutex);
  if (surface->bound) {
    std::shared_ptr<Context> other = surface->context.lock();
    if (other.get() == this) return VA_STATUS_SUCCESS;
    if (other && !other->staging) {
      driver_.log.errorf("surface 0x%08x is already bound to another context", surface->id);
      return VA_STATUS_ERROR_SURFACE_BUSY;
    }
    if (other) {
      // Exported before any context could hold it; a client's context
      // takes it over (its earlier exports no longer show its pictures).
      binding.unlock();
      if (VAStatus st = take_from_staging(*surface, *other); st != VA_STATUS_SUCCESS) return st;
      binding.lock();
      if (surface->bound) return VA_STATUS_ERROR_SURFACE_BUSY;  // bound meanwhile
    }
    surface->bound = false;
  }
  surface->detached.reset();
  // Reuse a CAPTURE buffer whose surface was destroyed, else grow the queue:
  // surfaces may be created after the context (GStreamer creates it with no
  // render targets), so buffers are created one by one (vidioc-create-bufs.rst).
  uint32_t index = 0;
  for (; index < captures_.size(); ++index)
    if (captures_[index].owner == VA_INVALID_SURFACE) break;
  if (index == captures_.size()) {
    Result<uint32_t> first = capture_queue_->create_buffers(1);
    if (!first.ok()) return first.status();
    CaptureBuffer buffer;
    VAStatus st = capture_queue_->map_buffer(*first, buffer.memory);
    // The new buffer keeps its index even when it cannot be mapped: a
    // later surface reuses the slot (the mapping is retried then).
    captures_.resize(capture_queue_->buffer_count());
    if (st != VA_STATUS_SUCCESS) return st;
    captures_[*first] = std::move(buffer);
    index = *first;
  } else if (captures_[index].memory.planes.empty()) {
    if (VAStatus st = capture_queue_->map_buffer(index, captures_[index].memory); st != VA_STATUS_SUCCESS) return st;
  }
  captures_[index].owner = surface->id;
  surface->context = weak_from_this();
  surface->capture = CaptureIndex{index};
  surface->bound = true;
  surface->picture = Surface::Picture::None;
  surface->referencable = false;
  surface->sequence = 0;
  return VA_STATUS_SUCCESS;
}

void Context::unbind_surface(Surface& surface) {
  drain_surface(surface);
  if (target_.get() == &surface) {
    // The picture being assembled loses its target: it is dropped, and
    // vaEndPicture will say so, rather than queue a buffer given away.
    driver_.log.errorf("surface 0x%08x destroyed between vaBeginPicture and vaEndPicture; the picture is dropped",
                       surface.id);
    codec_->abandon();
    target_.reset();
  }
  codec_->forget(surface.id);
  std::lock_guard binding(surface.binding_mutex);
  if (!surface.bound || surface.context.lock().get() != this) return;
  captures_[surface.capture.value].owner = VA_INVALID_SURFACE;
  surface.bound = false;
  surface.context.reset();
  surface.picture = Surface::Picture::None;
  surface.referencable = false;
  surface.sequence = 0;
}

std::shared_ptr<Surface> Context::surface_of(CaptureIndex capture) const {
  if (capture.value >= captures_.size()) return nullptr;
  return driver_.surfaces.find(captures_[capture.value].owner);
}

void Context::request_completed(const Completion& done) {
  std::shared_ptr<Surface> surface = surface_of(done.capture);
  // A request of an earlier picture of this buffer: its surface moved on.
  if (!surface || surface->timestamp_ns != done.timestamp_ns) return;
  switch (done.outcome) {
    case Completion::Outcome::Lost:
      if (surface->picture != Surface::Picture::Lost)
        driver_.log.errorf("surface 0x%08x: picture %llu was lost (not decoded)", surface->id,
                           static_cast<unsigned long long>(done.sequence));
      surface->picture = Surface::Picture::Lost;
      surface->referencable = false;
      return;
    case Completion::Outcome::Flagged:
      if (surface->picture != Surface::Picture::Lost) {
        driver_.log.errorf("surface 0x%08x: the device reported a decoding error for picture %llu", surface->id,
                           static_cast<unsigned long long>(done.sequence));
        surface->picture = Surface::Picture::Damaged;
      }
      break;
    case Completion::Outcome::Decoded:
      break;
  }
  if (!done.last_of_picture || surface->picture != Surface::Picture::InFlight) return;
  surface->picture = surface->known_damaged ? Surface::Picture::Damaged : Surface::Picture::Decoded;
  latest_picture_ = surface->timestamp_ns;
}

void Context::capture_timestamps_lost() {
  latest_picture_.reset();
  for (const CaptureBuffer& buffer : captures_) {
    if (buffer.owner == VA_INVALID_SURFACE) continue;
    if (auto surface = driver_.surfaces.find(buffer.owner)) surface->referencable = false;
  }
}

VAStatus Context::drain_surface(Surface& surface, int client_wait_ms) {
  if (!pool_ || surface.sequence == 0 || pool_->completed(surface.sequence)) return VA_STATUS_SUCCESS;
  switch (pool_->drain_through(surface.sequence, client_wait_ms)) {
    case SlotPool::Drain::Done:
      return VA_STATUS_SUCCESS;
    case SlotPool::Drain::ClientTimeout:
      return VA_STATUS_ERROR_TIMEDOUT;
    case SlotPool::Drain::DeviceGone:
      return VA_STATUS_ERROR_OPERATION_FAILED;
  }
  return VA_STATUS_ERROR_OPERATION_FAILED;
}

void Context::collect_completed() {
  if (pool_) pool_->collect_completed();
}

bool Context::device_gone() const { return video_ && video_->gone(); }

ReferencePictures Context::references() {
  ReferencePictures refs;
  refs.timestamp_of = [this](VASurfaceID id) -> std::optional<uint64_t> {
    auto surface = driver_.surfaces.find(id);
    if (!surface || !surface->referencable || surface->context.lock().get() != this) return std::nullopt;
    return surface->timestamp_ns;
  };
  refs.latest = latest_picture_;
  return refs;
}

}  // namespace v4l2va

namespace v4l2va::va {

VAStatus CreateContext(VADriverContextP ctx, VAConfigID config_id, int width, int height, int /*flag*/,
                       VASurfaceID* targets, int num_targets, VAContextID* id) {
  Driver& d = driver_of(ctx);
  if (!id) return VA_STATUS_ERROR_INVALID_PARAMETER;
  auto config = d.configs.find(config_id);
  if (!config) return VA_STATUS_ERROR_INVALID_CONFIG;
  if (width <= 0 || height <= 0) return VA_STATUS_ERROR_INVALID_PARAMETER;
  if (num_targets < 0 || (num_targets > 0 && !targets)) return VA_STATUS_ERROR_INVALID_PARAMETER;
  const DecoderCapabilities* decoder =
      choose_decoder(d.decoders, config->profile, uint32_t(width), uint32_t(height), d.log);
  if (!decoder) {
    d.log.errorf("vaCreateContext: no decoder offers profile %s at %dx%d", profile_name(config->profile), width,
                 height);
    return VA_STATUS_ERROR_RESOLUTION_NOT_SUPPORTED;
  }
  auto context = std::make_shared<Context>(d, *config, *decoder, uint32_t(width), uint32_t(height));
  {
    std::lock_guard lock(context->mutex);
    if (VAStatus st = context->open(std::span<const VASurfaceID>(targets, size_t(num_targets)));
        st != VA_STATUS_SUCCESS) {
      return st;
    }
  }
  const VAContextID new_id = d.contexts.insert(context);
  if (new_id == VA_INVALID_ID) return VA_STATUS_ERROR_ALLOCATION_FAILED;
  context->id = new_id;
  *id = new_id;
  return VA_STATUS_SUCCESS;
}

VAStatus DestroyContext(VADriverContextP ctx, VAContextID id) {
  // The context (fds, mappings, requests) is released when the last user
  // drops it: derived images may still map its CAPTURE memory. Its pictures
  // in flight are drained by its destructor.
  return driver_of(ctx).contexts.remove(id) ? VA_STATUS_SUCCESS : VA_STATUS_ERROR_INVALID_CONTEXT;
}

}  // namespace v4l2va::va
