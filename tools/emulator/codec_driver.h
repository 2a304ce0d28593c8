// The driver half of an m2m instance. M2mInstance models what the V4L2 core,
// vb2 and v4l2-mem2mem do for every driver; a CodecDriver models what the
// driver's own callbacks do: its format ioctls (ENUM_FMT, G/S/TRY_FMT,
// ENUM_FRAMESIZES), its queue_setup() sizes, HOLD_CAPTURE_BUF support, the
// SPS checks of its s_ctrl, and the instance state that gates its jobs
// (job_ready). One implementation per modelled driver, in codec_driver.cpp,
// each rule next to the Linux 6.12 function it comes from.
//
// Formats are in the internal shape (v4l2_pix_format_mplane, see
// planes_api.h). All calls happen with the device mutex held.
#pragma once

#include <linux/videodev2.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>

#include "capture_layout.h"
#include "profiles.h"

namespace emu {

enum class Direction { Output, Capture };

// What vb2_is_busy()/vb2_is_streaming() say of the two queues.
struct QueueBusy {
  bool output_streaming = false;
  bool output_allocated = false;
  bool capture_allocated = false;
};

// Where the decoder writes a picture in a CAPTURE buffer of the current format.
struct PictureLayout {
  CaptureLayout layout = CaptureLayout::NV12;
  uint32_t width = 0;         // coded area the buffer holds
  uint32_t height = 0;
  uint32_t bytesperline = 0;  // luma and chroma
  uint32_t chroma_plane = 0;  // memory plane of the CbCr plane
  size_t chroma_offset = 0;   // its offset in that memory plane
};

// v4l_fill_fmtdesc() (v4l2-ioctl.c): description and flags of a pixel format.
void describe_format(uint32_t pixelformat, v4l2_fmtdesc& desc);

class CodecDriver {
 public:
  static std::unique_ptr<CodecDriver> create(const HardwareProfile& profile, bool cedrus_tiled);
  virtual ~CodecDriver() = default;

  // VIDIOC_ENUM_FMT: EINVAL past the last format.
  virtual int enum_fmt(Direction direction, uint32_t index, uint32_t& pixelformat) const = 0;
  virtual int try_fmt(Direction direction, v4l2_pix_format_mplane& pix) const = 0;
  virtual int set_fmt(Direction direction, v4l2_pix_format_mplane& pix, const QueueBusy& busy) = 0;
  virtual void get_fmt(Direction direction, v4l2_pix_format_mplane& pix) = 0;
  virtual int enum_framesizes(v4l2_frmsizeenum& sizes) const = 0;

  // queue_setup() and buf_prepare(): the memory planes of a buffer of this
  // queue and the smallest size of each (num_planes, plane_fmt[].sizeimage).
  virtual v4l2_pix_format_mplane queue_format(Direction direction) const = 0;
  // Where a job writes its picture; nullopt when the CAPTURE format is not
  // a picture format the hardware writes.
  virtual std::optional<PictureLayout> picture_layout() const = 0;
  // The OUTPUT size the controls are checked against (rkvdec's SPS rule).
  virtual uint32_t coded_width() const = 0;
  virtual uint32_t coded_height() const = 0;

  // VB2_V4L2_FL_SUPPORTS_M2M_HOLD_CAPTURE_BUF on the OUTPUT queue.
  virtual bool hold_capture_supported() const = 0;

  // v4l2_m2m_ops.job_ready: whether the driver lets a job run at all.
  virtual bool job_ready() const { return true; }
  // vb2_ops.buf_queue of an OUTPUT buffer (the queue streams).
  virtual void output_buffer_queued() {}
  // vb2_ops.start_streaming / stop_streaming. stop returns true when the
  // driver resets its decoder there (the model then resets the backend).
  virtual void streaming_started(Direction) {}
  virtual bool streaming_stopped(Direction) { return false; }
  // v4l2_ctrl_ops.s_ctrl for a new SPS value (a CUR_VAL set, or a request's
  // SPS applied by v4l2_ctrl_request_setup()); 0 or -errno.
  virtual int sps_changed(const v4l2_ctrl_h264_sps&) { return 0; }
  // Whether device_run() has a decoder to run (false: the job fails with EIO).
  virtual bool decoder_ready() const { return true; }
  // vb2_ops.buf_finish of a dequeued OUTPUT buffer whose job failed with EIO.
  virtual void output_buffer_failed_io() {}
  // The driver's own vidioc_qbuf/vidioc_dqbuf refusal (before vb2), or 0.
  virtual int queue_ioctl_refused() const { return 0; }
};

}  // namespace emu
