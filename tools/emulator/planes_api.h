// The one place where a device's planes API shows: single-planar drivers
// (cedrus: V4L2_CAP_VIDEO_M2M, buffer types VIDEO_OUTPUT/VIDEO_CAPTURE,
// struct v4l2_pix_format, v4l2_buffer.m.offset/length/bytesused) versus
// multiplanar ones (hantro, rkvdec, mtk-vcodec: V4L2_CAP_VIDEO_M2M_MPLANE,
// *_MPLANE types, struct v4l2_pix_format_mplane, v4l2_buffer.m.planes).
//
// The rest of the model works on one internal shape: formats as
// v4l2_pix_format_mplane (a single-planar format is its one-plane case) and
// buffers as a list of memory planes. This layer converts at the ioctl
// boundary, applying what v4l2-ioctl.c and videobuf2-v4l2.c do there.
#pragma once

#include <linux/videodev2.h>

#include <cstdint>

namespace emu {

// What the model knows of one memory plane of a buffer, for QUERYBUF/DQBUF.
struct PlaneView {
  uint32_t bytesused = 0;
  uint32_t length = 0;
  uint32_t mem_offset = 0;  // the mmap cookie
};

class PlanesApi {
 public:
  static const PlanesApi& multiplanar();
  static const PlanesApi& single_planar();
  virtual ~PlanesApi() = default;

  // video_device.device_caps (without V4L2_CAP_EXT_PIX_FORMAT, which
  // v4l_querycap() adds for every device).
  virtual uint32_t device_caps() const = 0;
  // The vb2 queue types of the m2m context (cedrus_queue_init,
  // hantro_queue_init, mtk_vcodec_dec_queue_init). Any other type fails with
  // EINVAL: check_fmt() in v4l2-ioctl.c for the format and buffer ioctls
  // (a device has no ops for the other planes API, or a type mismatch in
  // vb2_verify_memory_type()/vb2_streamon()/vb2_core_expbuf()).
  virtual uint32_t output_type() const = 0;
  virtual uint32_t capture_type() const = 0;
  bool owns(uint32_t type) const { return type == output_type() || type == capture_type(); }

  // S_FMT/TRY_FMT/CREATE_BUFS input, after v4l_sanitize_format(): the
  // user's format in the internal shape.
  virtual v4l2_pix_format_mplane read_format(const v4l2_format& user) const = 0;
  // G/S/TRY_FMT output: the internal format in the user's structure.
  virtual void write_format(const v4l2_pix_format_mplane& format, v4l2_format& user) const = 0;
  // vb2_create_bufs(): the requested plane sizes; EINVAL for a bad plane
  // count or a zero size. Returns the plane count through `planes`.
  virtual int requested_sizes(const v4l2_format& user, uint32_t& planes,
                              uint32_t sizes[VIDEO_MAX_PLANES]) const = 0;

  // __verify_planes_array() in videobuf2-v4l2.c, for a queue whose buffers
  // have `num_planes` memory planes.
  virtual int verify_planes(const v4l2_buffer& user, uint32_t num_planes) const = 0;
  // The bytesused the client gave for plane `plane` (OUTPUT QBUF) and
  // __verify_length()'s rule against the plane's length.
  virtual uint32_t bytesused(const v4l2_buffer& user, uint32_t plane) const = 0;
  virtual int verify_length(const v4l2_buffer& user, const PlaneView* planes,
                            uint32_t num_planes) const = 0;
  // __fill_v4l2_buffer(): the plane fields of QUERYBUF/QBUF/DQBUF.
  virtual void write_planes(const PlaneView* planes, uint32_t num_planes,
                            v4l2_buffer& user) const = 0;
};

// video_usercopy() -> check_array_args(): before any type check, a
// multiplanar buffer type's plane array is copied in (EINVAL beyond
// VIDEO_MAX_PLANES, EFAULT for a NULL array), whatever the device is.
int copy_in_plane_array(const v4l2_buffer& user);

}  // namespace emu
