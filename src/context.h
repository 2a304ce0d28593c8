// A VA decode context: one open of the video node (one m2m instance), its two
// queues, its request slot pool, the CAPTURE buffers bound to surfaces, and
// the codec that plans each picture's requests. Everything that touches the
// instance runs under `mutex`.
#pragma once

#include <va/va.h>

#include <memory>
#include <mutex>
#include <span>
#include <vector>

#include "codec.h"
#include "driver.h"
#include "v4l2/device.h"
#include "v4l2/queue.h"
#include "v4l2/slot_pool.h"

namespace v4l2va {

// A CAPTURE buffer of the context and the surface it belongs to.
struct CaptureBuffer {
  MappedBuffer memory;
  VASurfaceID owner = VA_INVALID_SURFACE;
};

class Context final : public std::enable_shared_from_this<Context>, private PoolEvents {
 public:
  Context(Driver& driver, const Config& config, const DecoderCapabilities& decoder, uint32_t width, uint32_t height,
          bool staging = false);
  ~Context() override;

  VAStatus open(std::span<const VASurfaceID> render_targets);

  std::mutex mutex;

  // All below: call with `mutex` held.
  VAStatus bind_surface(const std::shared_ptr<Surface>& surface);
  // Drains the surface's picture, gives its CAPTURE buffer back for the
  // next surface and drops a picture being assembled into it.
  void unbind_surface(Surface& surface);
  // Waits (bounded) until the surface's picture is decoded and its buffers
  // are back: the only wait a client's sync/map/export triggers.
  // `client_wait_ms` >= 0 is the client's own bound (vaSyncSurface2).
  VAStatus drain_surface(Surface& surface, int client_wait_ms = -1);
  // Takes in, without waiting, what the device has finished.
  void collect_completed();
  bool device_gone() const;
  const CaptureBuffer& capture(CaptureIndex index) const { return captures_[index.value]; }
  const Format& capture_format() const { return capture_queue_->format(); }
  VAStatus export_capture(CaptureIndex index, uint32_t plane, int flags, UniqueFd& out) {
    return capture_queue_->export_plane(index.value, plane, flags, out);
  }

  // Picture module (picture.cpp).
  VAStatus begin_picture(const std::shared_ptr<Surface>& target);
  VAStatus render_buffer(const std::shared_ptr<Buffer>& buffer);
  VAStatus end_picture();
  bool in_picture() const { return target_ != nullptr; }

  VAContextID id = VA_INVALID_ID;
  const uint64_t serial;  // creation order: early export binds to the newest context
  const bool staging;     // the driver's own context for early exports (Driver::staging)
  const Config config;
  const uint32_t width;
  const uint32_t height;
  const SlotPool& pool() const { return *pool_; }

 private:
  VAStatus set_device_control(const DeviceControl& control);
  VAStatus create_codec();
  void set_stream_controls(uint32_t coded_width, uint32_t coded_height);
  VAStatus choose_capture_format();
  ReferencePictures references();
  uint64_t new_timestamp() { return (next_timestamp_++) * 1000ull; }
  VAStatus submit(PicturePlan& plan, Surface& target, uint64_t timestamp_ns);
  std::shared_ptr<Surface> surface_of(CaptureIndex capture) const;
  std::shared_ptr<DetachedPicture> detach_picture(CaptureBuffer& buffer, Surface& surface);
  VAStatus take_from_staging(Surface& surface, Context& staging);

  // PoolEvents.
  void request_completed(const Completion& done) override;
  void capture_timestamps_lost() override;

  Driver& driver_;
  const DecoderCapabilities decoder_;  // the device this context decodes on
  std::unique_ptr<VideoDevice> video_;
  std::unique_ptr<MediaDevice> media_;
  std::unique_ptr<Queue> output_queue_;
  std::unique_ptr<Queue> capture_queue_;
  std::unique_ptr<SlotPool> pool_;
  std::unique_ptr<Codec> codec_;
  std::vector<CaptureBuffer> captures_;
  uint64_t next_timestamp_ = 1;
  std::optional<uint64_t> latest_picture_;  // timestamp of the last picture decoded without loss
  std::shared_ptr<Surface> target_;         // between vaBeginPicture and vaEndPicture
};

}  // namespace v4l2va
