#include "vp8/decoder.h"

#include <linux/videodev2.h>

#include <cstring>

namespace v4l2va::vp8 {
namespace {

// 0 names no picture: vb2_find_buffer() matches only copied timestamps
// (videobuf2-v4l2.c); the driver's timestamps start at 1000 ns.
constexpr uint64_t kNoPicture = 0;

}  // namespace

uint32_t Vp8Codec::coded_format() const { return V4L2_PIX_FMT_VP8_FRAME; }

void Vp8Codec::begin(VASurfaceID target) {
  picture_ = Picture{};
  picture_.target = target;
}

template <class T>
VAStatus Vp8Codec::keep(const BufferView& buffer, std::optional<T>& into, const char* what) {
  if (buffer.size < sizeof(T)) {
    log_.errorf("VP8 %s buffer of %zu bytes, expected %zu", what, buffer.size, sizeof(T));
    return VA_STATUS_ERROR_INVALID_BUFFER;
  }
  into.emplace();
  std::memcpy(&*into, buffer.data.get(), sizeof(T));
  return VA_STATUS_SUCCESS;
}

VAStatus Vp8Codec::render(const BufferView& buffer) {
  switch (buffer.type) {
    case VAPictureParameterBufferType:
      return keep(buffer, picture_.params, "picture parameter");
    case VAProbabilityBufferType:
      return keep(buffer, picture_.probabilities, "probability");
    case VAIQMatrixBufferType:
      // The quantiser indices per segment, already resolved; the uAPI
      // wants the header's syntax elements, which are parsed instead.
      return buffer.size >= sizeof(VAIQMatrixBufferVP8) ? VA_STATUS_SUCCESS : VA_STATUS_ERROR_INVALID_BUFFER;
    case VASliceParameterBufferType:
      if (picture_.slice) {
        log_.errorf("VP8 picture for surface 0x%08x: a second slice parameter buffer (VP8 has one per frame)",
                    picture_.target);
        return VA_STATUS_ERROR_INVALID_BUFFER;
      }
      return keep(buffer, picture_.slice, "slice parameter");
    case VASliceDataBufferType:
      return render_slice_data(buffer);
    default:
      log_.errorf("vaRenderPicture: buffer type %d is not used by VP8 decoding", buffer.type);
      return VA_STATUS_ERROR_UNSUPPORTED_BUFFERTYPE;
  }
}

// The bytes stay in the client's VA buffer (shared ownership) until they are
// copied into the OUTPUT buffer.
VAStatus Vp8Codec::render_slice_data(const BufferView& buffer) {
  if (!picture_.slice || picture_.data) {
    log_.errorf("VP8 slice data buffer %s", picture_.data ? "given twice" : "without a slice parameter buffer before it");
    return VA_STATUS_ERROR_INVALID_BUFFER;
  }
  if (VAStatus st = check_slice(buffer.size); st != VA_STATUS_SUCCESS) return st;
  picture_.data = buffer.data;
  picture_.data_size = buffer.size;
  return VA_STATUS_SUCCESS;
}

// The partitions' bytes: the first partition, the DCT partition sizes (3
// bytes each but the last's) and the DCT partitions (RFC 6386 9.5). Clients
// differ in slice_data_size: ffmpeg gives the bytes from slice_data_offset,
// GStreamer the whole frame including the uncompressed chunk before the
// offset; the partition sizes say exactly.
uint64_t Vp8Codec::partitions_size() const {
  const VASliceParameterBufferVP8& s = *picture_.slice;
  uint64_t size = first_partition_size(s) + 3ull * (s.num_of_partitions - 2u);
  for (unsigned i = 1; i < s.num_of_partitions; ++i) size += s.partition_size[i];
  return size;
}

VAStatus Vp8Codec::check_slice(size_t buffer_size) const {
  const VASliceParameterBufferVP8& s = *picture_.slice;
  if (s.num_of_partitions < 2 || s.num_of_partitions > 9) {
    log_.errorf("VP8 slice: %u partitions (2, 3, 5 or 9: the first and 1, 2, 4 or 8 DCT partitions)",
                s.num_of_partitions);
    return VA_STATUS_ERROR_INVALID_BUFFER;
  }
  const uint64_t needed = partitions_size();
  if (s.slice_data_offset > buffer_size || needed > buffer_size - s.slice_data_offset) {
    log_.errorf("VP8 slice: partitions of %llu bytes at offset %u outside the %zu-byte data buffer",
                static_cast<unsigned long long>(needed), s.slice_data_offset, buffer_size);
    return VA_STATUS_ERROR_INVALID_BUFFER;
  }
  return VA_STATUS_SUCCESS;
}

// The uncompressed data chunk goes in front of the partitions. VA-API's
// slice data starts at the first partition; a client may keep the frame's
// own chunk just before it (slice_data_offset >= 3 or 10), which is used
// when it agrees with the parameters. Otherwise it is rebuilt: VA-API
// carries no show_frame, so the frame is marked shown (hantro and cedrus do
// not read the bit; a hidden frame decodes the same).
UncompressedChunk Vp8Codec::uncompressed_chunk() const {
  const VAPictureParameterBufferVP8& p = *picture_.params;
  const VASliceParameterBufferVP8& s = *picture_.slice;
  UncompressedChunk built;
  built.key_frame = p.pic_fields.bits.key_frame == 0;  // 0 means a key frame (va_dec_vp8.h)
  built.version = static_cast<uint8_t>(p.pic_fields.bits.version);
  built.show_frame = true;
  built.first_part_size = first_partition_size(s);
  built.width = static_cast<uint16_t>(p.frame_width);
  built.height = static_cast<uint16_t>(p.frame_height);
  const size_t size = built.size();
  if (s.slice_data_offset >= size) {
    const uint8_t* before = picture_.data.get() + s.slice_data_offset - size;
    std::optional<UncompressedChunk> own = parse_uncompressed_chunk(before, size);
    if (own && own->key_frame == built.key_frame && own->version == built.version &&
        own->first_part_size == built.first_part_size &&
        (!built.key_frame || (own->width == built.width && own->height == built.height)))
      return *own;
  }
  return built;
}

// A reference whose surface holds no picture the device can find is
// replaced by the latest decoded picture (as for H.264, design.md "Damaged
// streams"); key frames reference nothing.
ReferenceTimestamps Vp8Codec::reference_timestamps(const ReferencePictures& references, unsigned& concealed) const {
  ReferenceTimestamps refs;
  const VAPictureParameterBufferVP8& p = *picture_.params;
  if (p.pic_fields.bits.key_frame == 0) return refs;
  auto resolve = [&](VASurfaceID surface) -> uint64_t {
    if (std::optional<uint64_t> ts = references.timestamp_of(surface)) return *ts;
    ++concealed;
    return references.latest.value_or(kNoPicture);
  };
  refs.last = resolve(p.last_ref_frame);
  refs.golden = resolve(p.golden_ref_frame);
  refs.alt = resolve(p.alt_ref_frame);
  return refs;
}

VAStatus Vp8Codec::end(const ReferencePictures& references, uint32_t coded_width, uint32_t coded_height,
                       PicturePlan& plan) {
  plan = PicturePlan{};
  Picture& pic = picture_;
  if (!pic.params || !pic.probabilities || !pic.slice || !pic.data) {
    log_.errorf("vaEndPicture: incomplete VP8 picture for surface 0x%08x (picture parameters %s, probabilities %s, "
                "slice parameters %s, slice data %s)",
                pic.target, pic.params ? "yes" : "no", pic.probabilities ? "yes" : "no", pic.slice ? "yes" : "no",
                pic.data ? "yes" : "no");
    return VA_STATUS_ERROR_INVALID_PARAMETER;
  }
  const VAPictureParameterBufferVP8& p = *pic.params;
  if (p.frame_width > coded_width || p.frame_height > coded_height) {
    log_.errorf("VP8 frame for surface 0x%08x is %ux%u, larger than the context's %ux%u CAPTURE buffers", pic.target,
                p.frame_width, p.frame_height, coded_width, coded_height);
    return VA_STATUS_ERROR_RESOLUTION_NOT_SUPPORTED;
  }
  FrameInput in;
  in.params = &p;
  in.probabilities = &*pic.probabilities;
  in.slice = &*pic.slice;
  in.chunk = uncompressed_chunk();
  const uint8_t* partitions = pic.data.get() + pic.slice->slice_data_offset;
  PersistentState state = state_;
  std::string error;
  if (!parse_header_start(partitions, in.chunk.first_part_size, in.chunk.key_frame, state, in.header, error)) {
    log_.errorf("VP8 frame for surface 0x%08x: %s", pic.target, error.c_str());
    return VA_STATUS_ERROR_INVALID_PARAMETER;
  }
  const ReferenceTimestamps refs = reference_timestamps(references, plan.concealed_references);
  if (!translate_frame(in, refs, frame_, error)) {
    log_.errorf("VP8 frame for surface 0x%08x: %s", pic.target, error.c_str());
    return VA_STATUS_ERROR_INVALID_PARAMETER;
  }
  if (plan.concealed_references)
    log_.errorf("VP8 frame for surface 0x%08x: %u reference(s) had no decoded picture; the latest picture stands in",
                pic.target, plan.concealed_references);
  state_ = state;
  const size_t chunk_size = write_uncompressed_chunk(in.chunk, chunk_bytes_);
  PlannedRequest request;
  v4l2_ext_control control{};
  control.id = V4L2_CID_STATELESS_VP8_FRAME;
  control.size = sizeof(frame_);
  control.ptr = &frame_;
  request.controls.push_back(control);
  request.pieces.push_back({{chunk_bytes_, chunk_size}, {partitions, static_cast<size_t>(partitions_size())}});
  plan.requests.push_back(std::move(request));
  return VA_STATUS_SUCCESS;
}

}  // namespace v4l2va::vp8
