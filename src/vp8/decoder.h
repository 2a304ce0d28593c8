// The VP8 codec behind the codec seam (src/codec.h): one request per frame
// with V4L2_CID_STATELESS_VP8_FRAME, the OUTPUT buffer holding the whole
// frame (uncompressed data chunk, first partition, DCT partitions) as
// V4L2_PIX_FMT_VP8_FRAME wants it (pixfmt-compressed.rst). References are
// named by the timestamps of the pictures in the last/golden/altref surfaces.
#pragma once

#include <va/va.h>
#include <va/va_dec_vp8.h>

#include <memory>
#include <optional>
#include <string>

#include "codec.h"
#include "log.h"
#include "vp8/controls.h"
#include "vp8/frame_header.h"

namespace v4l2va::vp8 {

class Vp8Codec final : public Codec {
 public:
  explicit Vp8Codec(Log& log) : log_(log) {}

  uint32_t coded_format() const override;
  std::vector<DeviceControl> device_controls() const override { return {}; }
  std::string describe() const override { return "VP8 frame-based"; }
  void begin(VASurfaceID target) override;
  VAStatus render(const BufferView& buffer) override;
  VAStatus end(const ReferencePictures& references, uint32_t coded_width, uint32_t coded_height,
               PicturePlan& plan) override;
  void abandon() override { picture_ = Picture{}; }
  void forget(VASurfaceID) override {}

 private:
  struct Picture {
    VASurfaceID target = VA_INVALID_SURFACE;
    std::optional<VAPictureParameterBufferVP8> params;
    std::optional<VAProbabilityDataBufferVP8> probabilities;
    std::optional<VASliceParameterBufferVP8> slice;
    std::shared_ptr<const uint8_t> data;  // the slice data buffer
    size_t data_size = 0;
  };

  template <class T>
  VAStatus keep(const BufferView& buffer, std::optional<T>& into, const char* what);
  VAStatus render_slice_data(const BufferView& buffer);
  VAStatus check_slice(size_t buffer_size) const;
  uint64_t partitions_size() const;
  UncompressedChunk uncompressed_chunk() const;
  ReferenceTimestamps reference_timestamps(const ReferencePictures& references, unsigned& concealed) const;

  Log& log_;
  Picture picture_;
  PersistentState state_;
  v4l2_ctrl_vp8_frame frame_{};  // the last planned frame's payload
  uint8_t chunk_bytes_[10] = {};  // its uncompressed data chunk
};

}  // namespace v4l2va::vp8
