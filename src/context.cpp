#include "context.h"

#include "discovery/discovery.h"

#include <linux/v4l2-controls.h>

#include <cstdlib>
#include <cstring>
#include <string>

namespace v4l2va {
namespace {

const char* env_or(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return (v && *v) ? v : fallback;
}

}  // namespace

Context::Context(Driver& driver, const Config& cfg, const DecoderCapabilities& decoder, uint32_t w, uint32_t h)
    : config(cfg), width(w), height(h), driver_(driver), decoder_(decoder), stream_(cfg.profile) {}

Context::~Context() {
  std::lock_guard lock(mutex);
  if (pool_) drain_all();
  // STREAMOFF returns every buffer still queued; then nothing of this
  // instance is referenced by the kernel when the fds close.
  if (capture_queue_) capture_queue_->stream_off();
  if (output_queue_) output_queue_->stream_off();
  // The surfaces bound to this context lose their CAPTURE buffer (and
  // picture); they can be bound again by another context.
  for (const CaptureBuffer& buffer : captures_) {
    if (buffer.owner == VA_INVALID_SURFACE) continue;
    auto surface = driver_.surfaces.find(buffer.owner);
    if (!surface) continue;
    std::lock_guard binding(surface->binding_mutex);
    if (surface->bound && surface->context.expired()) {
      surface->bound = false;
      surface->has_picture = false;
      surface->sequence = 0;
    }
  }
}

VAStatus Context::set_device_control(uint32_t ctrl_id, int32_t value, const char* name) {
  v4l2_ext_control ctrl{};
  ctrl.id = ctrl_id;
  ctrl.value = value;
  v4l2_ext_controls ext{};
  ext.which = V4L2_CTRL_WHICH_CUR_VAL;
  ext.count = 1;
  ext.controls = &ctrl;
  if (int err = video_->call(VIDIOC_S_EXT_CTRLS, &ext, "VIDIOC_S_EXT_CTRLS", name)) return status_from_errno(err);
  return VA_STATUS_SUCCESS;
}

// Frame-based decoding with Annex-B start codes when the device offers it:
// one request per picture. Slice-based devices (Cedrus) get one request per
// slice. LIBVA_V4L2_REQUEST_H264_DECODE_MODE / _START_CODE override the choice
// (used to exercise both modes of visl).
VAStatus Context::choose_modes() {
  const DecoderCapabilities& caps = decoder_;
  std::string mode = env_or("LIBVA_V4L2_REQUEST_H264_DECODE_MODE", caps.frame_based ? "frame" : "slice");
  std::string start = env_or("LIBVA_V4L2_REQUEST_H264_START_CODE", caps.annex_b ? "annexb" : "none");
  if ((mode == "frame" && !caps.frame_based) || (mode == "slice" && !caps.slice_based) ||
      (mode != "frame" && mode != "slice")) {
    driver_.log.errorf("%s: H.264 decode mode '%s' is not offered by the device", video_->path().c_str(),
                       mode.c_str());
    return VA_STATUS_ERROR_UNSUPPORTED_PROFILE;
  }
  if ((start == "annexb" && !caps.annex_b) || (start == "none" && !caps.no_start_code) ||
      (start != "annexb" && start != "none")) {
    driver_.log.errorf("%s: H.264 start code mode '%s' is not offered by the device", video_->path().c_str(),
                       start.c_str());
    return VA_STATUS_ERROR_UNSUPPORTED_PROFILE;
  }
  slice_based_ = mode == "slice";
  annex_b_ = start == "annexb";
  if (!slice_based_ && !annex_b_) {
    // Frame-based needs start codes to delimit the slices of a picture
    // (ext-ctrls-codec-stateless.rst, V4L2_CID_STATELESS_H264_START_CODE).
    driver_.log.errorf("%s: frame-based decoding without start codes cannot delimit slices",
                       video_->path().c_str());
    return VA_STATUS_ERROR_UNSUPPORTED_PROFILE;
  }
  if (VAStatus st = set_device_control(V4L2_CID_STATELESS_H264_DECODE_MODE,
                                       slice_based_ ? V4L2_STATELESS_H264_DECODE_MODE_SLICE_BASED
                                                    : V4L2_STATELESS_H264_DECODE_MODE_FRAME_BASED,
                                       "H264_DECODE_MODE");
      st != VA_STATUS_SUCCESS)
    return st;
  return set_device_control(V4L2_CID_STATELESS_H264_START_CODE,
                            annex_b_ ? V4L2_STATELESS_H264_START_CODE_ANNEX_B : V4L2_STATELESS_H264_START_CODE_NONE,
                            "H264_START_CODE");
}

VAStatus Context::open(std::span<const VASurfaceID> render_targets) {
  const DecoderCapabilities& caps = decoder_;
  if (VAStatus st = VideoDevice::open(caps.video_path, driver_.log, video_); st != VA_STATUS_SUCCESS) return st;
  if (VAStatus st = MediaDevice::open(caps.media_path, driver_.log, media_); st != VA_STATUS_SUCCESS) return st;
  output_queue_ = std::make_unique<Queue>(*video_, V4L2_BUF_TYPE_VIDEO_OUTPUT_MPLANE);
  capture_queue_ = std::make_unique<Queue>(*video_, V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE);

  if (VAStatus st = choose_modes(); st != VA_STATUS_SUCCESS) return st;

  // OUTPUT first: the CAPTURE format is derived from it, and setting CAPTURE
  // first gives EBUSY on Hantro and Cedrus (dev-stateless-decoder.rst,
  // "Initialization").
  uint32_t coded_w = (width + 15) & ~15u;
  uint32_t coded_h = (height + 15) & ~15u;
  uint32_t bitstream_size = std::max<uint32_t>(coded_w * coded_h * 3 / 2, 1024 * 1024);
  if (VAStatus st = output_queue_->set_format(V4L2_PIX_FMT_H264_SLICE, width, height, bitstream_size);
      st != VA_STATUS_SUCCESS)
    return st;
  if (VAStatus st = capture_queue_->read_format(); st != VA_STATUS_SUCCESS) return st;
  const Format& cf = capture_queue_->format();
  if (cf.pixelformat != V4L2_PIX_FMT_NV12 && cf.pixelformat != V4L2_PIX_FMT_NV12M) {
    if (VAStatus st = capture_queue_->set_format(V4L2_PIX_FMT_NV12, width, height, 0); st != VA_STATUS_SUCCESS) {
      driver_.log.errorf("%s: CAPTURE queue offers no linear NV12 format", video_->path().c_str());
      return st;
    }
  }
  driver_.log.infof("context %ux%u on %s: %s, %s, CAPTURE %ux%u pitch %u", width, height, video_->path().c_str(),
                    slice_based_ ? "slice-based" : "frame-based", annex_b_ ? "Annex-B" : "no start codes",
                    capture_queue_->format().width, capture_queue_->format().height,
                    capture_queue_->format().planes[0].bytesperline);

  pool_ = std::make_unique<SlotPool>(*video_, *media_, *output_queue_, *capture_queue_, driver_.timeout_ms);
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

VAStatus Context::bind_surface(const std::shared_ptr<Surface>& surface) {
  std::lock_guard binding(surface->binding_mutex);
  if (surface->bound) {
    if (surface->context.lock().get() == this) return VA_STATUS_SUCCESS;
    if (!surface->context.expired()) {
      driver_.log.errorf("surface 0x%08x is already bound to another context", surface->id);
      return VA_STATUS_ERROR_SURFACE_BUSY;
    }
    surface->bound = false;
  }
  // Reuse a CAPTURE buffer whose surface was destroyed, else grow the queue:
  // surfaces may be created after the context (GStreamer creates it with no
  // render targets), so buffers are created one by one (vidioc-create-bufs.rst).
  uint32_t index = 0;
  for (; index < captures_.size(); ++index)
    if (captures_[index].owner == VA_INVALID_SURFACE) break;
  if (index == captures_.size()) {
    uint32_t first = 0, created = 0;
    if (VAStatus st = capture_queue_->create_buffers(1, first, created); st != VA_STATUS_SUCCESS) return st;
    if (created != 1 || first != captures_.size()) {
      driver_.log.errorf("VIDIOC_CREATE_BUFS on %s (CAPTURE) created %u buffers at %u, expected 1 at %zu",
                         video_->path().c_str(), created, first, captures_.size());
      return VA_STATUS_ERROR_ALLOCATION_FAILED;
    }
    CaptureBuffer buffer;
    if (VAStatus st = capture_queue_->map_buffer(first, buffer.memory); st != VA_STATUS_SUCCESS) return st;
    captures_.push_back(std::move(buffer));
  }
  captures_[index].owner = surface->id;
  surface->context = weak_from_this();
  surface->capture = CaptureIndex{index};
  surface->bound = true;
  surface->has_picture = false;
  surface->sequence = 0;
  surface->decode_status = VA_STATUS_SUCCESS;
  return VA_STATUS_SUCCESS;
}

void Context::unbind_surface(Surface& surface) {
  drain_surface(surface);
  std::lock_guard binding(surface.binding_mutex);
  if (!surface.bound || surface.context.lock().get() != this) return;
  captures_[surface.capture.value].owner = VA_INVALID_SURFACE;
  surface.bound = false;
  surface.context.reset();
  surface.has_picture = false;
  surface.sequence = 0;
  if (last_target_.get() == &surface) last_target_.reset();
}

void Context::on_completion(const Completion& done) {
  if (!done.error || done.capture.value >= captures_.size()) return;
  VASurfaceID owner = captures_[done.capture.value].owner;
  if (auto surface = driver_.surfaces.find(owner)) {
    surface->decode_status = VA_STATUS_ERROR_DECODING_ERROR;
    driver_.log.errorf("surface 0x%08x: the device reported a decoding error for picture %llu", owner,
                       static_cast<unsigned long long>(done.sequence));
  }
}

CompletionSink Context::sink() {
  return [this](const Completion& done) { on_completion(done); };
}

VAStatus Context::drain_surface(Surface& surface) {
  if (!pool_ || surface.sequence == 0 || pool_->completed(surface.sequence)) return VA_STATUS_SUCCESS;
  return pool_->drain_through(surface.sequence, sink());
}

VAStatus Context::drain_all() {
  if (!pool_) return VA_STATUS_SUCCESS;
  return pool_->drain_all(sink());
}

}  // namespace v4l2va

namespace v4l2va::va {

VAStatus CreateContext(VADriverContextP ctx, VAConfigID config_id, int width, int height, int /*flag*/,
                       VASurfaceID* targets, int num_targets, VAContextID* id) {
  Driver& d = driver_of(ctx);
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
  *id = d.contexts.insert(context);
  context->id = *id;
  return VA_STATUS_SUCCESS;
}

VAStatus DestroyContext(VADriverContextP ctx, VAContextID id) {
  // The context (fds, mappings, requests) is released when the last user
  // drops it: derived images may still map its CAPTURE memory.
  return driver_of(ctx).contexts.remove(id) ? VA_STATUS_SUCCESS : VA_STATUS_ERROR_INVALID_CONTEXT;
}

}  // namespace v4l2va::va
