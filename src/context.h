// A VA decode context: one open of the video node (one m2m instance), its two
// queues, its request slot pool, and the CAPTURE buffers bound to surfaces.
// Everything that touches the instance runs under `mutex`.
#pragma once

#include <va/va.h>

#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <vector>

#include "driver.h"
#include "h264/controls.h"
#include "v4l2/device.h"
#include "v4l2/queue.h"
#include "v4l2/slot_pool.h"

namespace v4l2va {

// A CAPTURE buffer of the context and the surface it belongs to.
struct CaptureBuffer {
  MappedBuffer memory;
  VASurfaceID owner = VA_INVALID_SURFACE;
};

// The VA buffers of the picture between vaBeginPicture and vaEndPicture.
struct PendingPicture {
  std::shared_ptr<Surface> target;
  std::optional<VAPictureParameterBufferH264> pic;
  std::optional<VAIQMatrixBufferH264> iq;
  std::vector<VASliceParameterBufferH264> slices;    // one per slice
  std::vector<std::vector<uint8_t>> slice_data;      // the slice's bytes, from the NAL header
  size_t slices_waiting_for_data = 0;                // params rendered, their data buffer not yet
};

class Context : public std::enable_shared_from_this<Context> {
 public:
  Context(Driver& driver, const Config& config, const DecoderCapabilities& decoder, uint32_t width, uint32_t height);
  ~Context();

  VAStatus open(std::span<const VASurfaceID> render_targets);

  std::mutex mutex;

  // All below: call with `mutex` held.
  VAStatus bind_surface(const std::shared_ptr<Surface>& surface);
  void unbind_surface(Surface& surface);
  // Waits (bounded) until the surface's picture is decoded and its buffers
  // are back: the only wait a client's sync/map/export triggers.
  VAStatus drain_surface(Surface& surface);
  VAStatus drain_all();
  const CaptureBuffer& capture(CaptureIndex index) const { return captures_[index.value]; }
  const Format& capture_format() const { return capture_queue_->format(); }
  VAStatus export_capture(CaptureIndex index, uint32_t plane, int flags, UniqueFd& out) {
    return capture_queue_->export_plane(index.value, plane, flags, out);
  }

  // Picture module (picture.cpp).
  VAStatus begin_picture(const std::shared_ptr<Surface>& target);
  VAStatus render_buffer(Buffer& buffer);
  VAStatus end_picture();

  VAContextID id = VA_INVALID_ID;
  const Config config;
  const uint32_t width;
  const uint32_t height;
  const SlotPool& pool() const { return *pool_; }

 private:
  VAStatus choose_modes();
  VAStatus set_device_control(uint32_t id, int32_t value, const char* name);
  void on_completion(const Completion& done);
  CompletionSink sink();
  VAStatus submit_frame(h264::PictureControls& controls, uint64_t timestamp_ns);
  VAStatus submit_slices(h264::PictureControls& controls, uint64_t timestamp_ns);
  std::vector<v4l2_ext_control> frame_controls(h264::PictureControls& c) const;
  size_t write_slice(uint8_t* dst, size_t capacity, const std::vector<uint8_t>& nal) const;
  uint64_t timestamp_for(Surface& target, const VAPictureParameterBufferH264& pic);

  Driver& driver_;
  const DecoderCapabilities decoder_;  // the device this context decodes on
  std::unique_ptr<VideoDevice> video_;
  std::unique_ptr<MediaDevice> media_;
  std::unique_ptr<Queue> output_queue_;
  std::unique_ptr<Queue> capture_queue_;
  std::unique_ptr<SlotPool> pool_;
  std::vector<CaptureBuffer> captures_;
  bool slice_based_ = false;
  bool annex_b_ = true;
  uint64_t next_timestamp_ = 1;
  std::shared_ptr<Surface> last_target_;
  h264::StreamState stream_;
  PendingPicture picture_;
  bool in_picture_ = false;
};

}  // namespace v4l2va
