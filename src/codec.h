// The seam between the codec-independent machinery (context, surfaces, the
// request slot pool) and one codec's translation of VA buffers into V4L2
// stateless controls and bitstream. A Codec never issues an ioctl: it plans
// the requests of a picture, and the context executes the plan through the
// slot pool, which owns the request lifecycle.
#pragma once

#include <linux/videodev2.h>
#include <va/va.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace v4l2va {

// A VA buffer as a codec sees it. `data` shares ownership of the buffer's
// memory, so a codec may keep slice data until the picture is queued even
// if the client destroys the buffer after vaRenderPicture.
struct BufferView {
  VABufferType type = VABufferTypeMax;
  uint32_t element_size = 0;
  uint32_t num_elements = 0;
  std::shared_ptr<const uint8_t> data;
  size_t size = 0;
};

// Bytes for a request's OUTPUT buffer: an optional prefix (a start code)
// followed by bytes that stay owned by a VA buffer the codec holds.
struct BitstreamPiece {
  std::span<const uint8_t> prefix;
  std::span<const uint8_t> bytes;
};

// One request of a picture: its controls (payloads owned by the codec until
// the picture has been queued) and its bitstream.
struct PlannedRequest {
  std::vector<v4l2_ext_control> controls;
  std::vector<BitstreamPiece> pieces;
};

struct PicturePlan {
  // Frame-based devices: one request. Slice-based devices: one per slice, the
  // CAPTURE buffer queued with the first and held until the last
  // (dev-stateless-decoder.rst, "Decoding").
  std::vector<PlannedRequest> requests;
  // This picture completes the one already in the target surface (the second
  // field of a frame): it keeps that picture's timestamp, so a reference to
  // the first field also names the finished frame.
  bool second_field = false;
  // References the client listed that name no decoded picture (lost, failed
  // or never decoded), replaced by another picture as concealment.
  unsigned concealed_references = 0;
};

// What a codec may ask about the surfaces a picture references.
struct ReferencePictures {
  // Timestamp of the picture now in `surface`, if the device holds one.
  std::function<std::optional<uint64_t>(VASurfaceID surface)> timestamp_of;
  // The most recently decoded picture of the context, the concealment of
  // last resort for a reference that has no picture.
  std::optional<uint64_t> latest;
};

// A device-wide control the codec sets once per instance (e.g. the H.264
// decode mode), with which = V4L2_CTRL_WHICH_CUR_VAL.
struct DeviceControl {
  uint32_t id;
  int32_t value;
  const char* name;
};

class Codec {
 public:
  virtual ~Codec() = default;

  // The OUTPUT (coded) pixel format, e.g. V4L2_PIX_FMT_H264_SLICE.
  virtual uint32_t coded_format() const = 0;
  virtual std::vector<DeviceControl> device_controls() const = 0;
  // Stream-level controls describing what the context will decode
  // (width x height in whole macroblocks), set with CUR_VAL before the
  // CAPTURE formats are enumerated, as the uAPI asks: "set all the controls
  // (parsed headers, etc.) required by the OUTPUT format to enumerate the
  // CAPTURE formats" (dev-stateless-decoder.rst, "Initialization"). Payloads
  // stay owned by the codec. Codecs whose CAPTURE formats do not depend on a
  // header return none.
  virtual std::vector<v4l2_ext_control> stream_controls(uint32_t coded_width, uint32_t coded_height) {
    (void)coded_width;
    (void)coded_height;
    return {};
  }
  // How the codec uses the device, for the context's log line.
  virtual std::string describe() const = 0;

  // One picture: begin, the client's buffers in order, end. A failed
  // render() leaves the picture as it was; end() plans it or says why not.
  virtual void begin(VASurfaceID target) = 0;
  virtual VAStatus render(const BufferView& buffer) = 0;
  // `coded_width` x `coded_height`: what the CAPTURE buffers hold; a picture
  // larger than that is refused.
  virtual VAStatus end(const ReferencePictures& references, uint32_t coded_width, uint32_t coded_height,
                       PicturePlan& plan) = 0;
  // Drops the picture being assembled (its target went away).
  virtual void abandon() = 0;
  // The surface was destroyed or unbound: forget what is known about it.
  virtual void forget(VASurfaceID surface) = 0;
};

}  // namespace v4l2va
