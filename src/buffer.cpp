// VA buffers: parameter and slice data buffers hold the client's bytes in
// driver memory (slice data is then copied once more, straight into an
// OUTPUT buffer); a derived image's buffer maps the CAPTURE buffer itself.
#include <algorithm>
#include <cstring>

#include "driver.h"

namespace v4l2va {

ByteBlock BlockCache::take(size_t size) {
  {
    std::lock_guard lock(mutex_);
    auto same = std::find_if(free_.begin(), free_.end(), [&](const ByteBlock& b) { return b.size() == size; });
    if (same != free_.end()) {
      ByteBlock block = std::move(*same);
      free_.erase(same);
      return block;
    }
  }
  return ByteBlock(size);
}

void BlockCache::give(ByteBlock block) {
  std::lock_guard lock(mutex_);
  if (free_.size() == kMaxBlocks) free_.erase(free_.begin());  // the oldest goes
  free_.push_back(std::move(block));
}

}  // namespace v4l2va

namespace v4l2va::va {
namespace {

bool is_decode_buffer(VABufferType type) {
  switch (type) {
    case VAPictureParameterBufferType:
    case VAIQMatrixBufferType:
    case VASliceParameterBufferType:
    case VASliceDataBufferType:
    case VAProbabilityBufferType:  // VP8 coefficient probabilities
      return true;
    default:
      return false;
  }
}

}  // namespace

VAStatus CreateBuffer(VADriverContextP ctx, VAContextID context, VABufferType type, unsigned int size,
                      unsigned int num_elements, void* data, VABufferID* id) {
  Driver& d = driver_of(ctx);
  if (!id) return VA_STATUS_ERROR_INVALID_PARAMETER;
  if (!is_decode_buffer(type) && type != VAImageBufferType) {
    d.log.errorf("vaCreateBuffer: buffer type %d not supported", type);
    return VA_STATUS_ERROR_UNSUPPORTED_BUFFERTYPE;
  }
  // Decode buffers belong to a context (va.h, vaCreateBuffer).
  if (is_decode_buffer(type) && !d.contexts.find(context)) {
    d.log.errorf("vaCreateBuffer: buffer type %d for 0x%08x, which is not a context", type, context);
    return VA_STATUS_ERROR_INVALID_CONTEXT;
  }
  if (size == 0 || num_elements == 0) return VA_STATUS_ERROR_INVALID_PARAMETER;
  if (size_t(size) * num_elements > kMaxBufferBytes) {
    d.log.errorf("vaCreateBuffer: %u elements of %u bytes exceed the driver's %zu MiB per buffer", num_elements, size,
                 kMaxBufferBytes >> 20);
    return VA_STATUS_ERROR_ALLOCATION_FAILED;
  }
  auto buffer = std::make_shared<Buffer>();
  buffer->type = type;
  buffer->element_size = size;
  buffer->num_elements = num_elements;
  buffer->context = context;
  buffer->block = ByteBlock(size_t(size) * num_elements);
  if (data)
    std::memcpy(buffer->block.data(), data, buffer->block.size());
  else
    std::memset(buffer->block.data(), 0, buffer->block.size());
  const VABufferID new_id = d.buffers.insert(buffer);
  if (new_id == VA_INVALID_ID) return VA_STATUS_ERROR_ALLOCATION_FAILED;
  *id = new_id;
  return VA_STATUS_SUCCESS;
}

VAStatus BufferSetNumElements(VADriverContextP ctx, VABufferID id, unsigned int num_elements) {
  Driver& d = driver_of(ctx);
  auto buffer = d.buffers.find(id);
  if (!buffer) return VA_STATUS_ERROR_INVALID_BUFFER;
  if (buffer->external || buffer->type == VAImageBufferType || num_elements == 0)
    return VA_STATUS_ERROR_INVALID_PARAMETER;
  const size_t bytes = size_t(buffer->element_size) * num_elements;
  if (bytes > kMaxBufferBytes) {
    d.log.errorf("vaBufferSetNumElements: %u elements of %u bytes exceed the driver's %zu MiB per buffer",
                 num_elements, buffer->element_size, kMaxBufferBytes >> 20);
    return VA_STATUS_ERROR_ALLOCATION_FAILED;
  }
  if (bytes > buffer->block.size()) {
    ByteBlock grown(bytes);
    std::memcpy(grown.data(), buffer->block.data(), buffer->block.size());
    std::memset(grown.data() + buffer->block.size(), 0, bytes - buffer->block.size());
    buffer->block = std::move(grown);
  }
  buffer->num_elements = num_elements;
  return VA_STATUS_SUCCESS;
}

VAStatus MapBuffer(VADriverContextP ctx, VABufferID id, void** pbuf) {
  if (!pbuf) return VA_STATUS_ERROR_INVALID_PARAMETER;
  auto buffer = driver_of(ctx).buffers.find(id);
  if (!buffer) return VA_STATUS_ERROR_INVALID_BUFFER;
  *pbuf = buffer->bytes();
  return VA_STATUS_SUCCESS;
}

VAStatus UnmapBuffer(VADriverContextP ctx, VABufferID id) {
  return driver_of(ctx).buffers.find(id) ? VA_STATUS_SUCCESS : VA_STATUS_ERROR_INVALID_BUFFER;
}

VAStatus DestroyBuffer(VADriverContextP ctx, VABufferID id) {
  return driver_of(ctx).buffers.remove(id) ? VA_STATUS_SUCCESS : VA_STATUS_ERROR_INVALID_BUFFER;
}

VAStatus BufferInfo(VADriverContextP ctx, VABufferID id, VABufferType* type, unsigned int* size,
                    unsigned int* num_elements) {
  if (!type || !size || !num_elements) return VA_STATUS_ERROR_INVALID_PARAMETER;
  auto buffer = driver_of(ctx).buffers.find(id);
  if (!buffer) return VA_STATUS_ERROR_INVALID_BUFFER;
  *type = buffer->type;
  *size = buffer->element_size;
  *num_elements = buffer->num_elements;
  return VA_STATUS_SUCCESS;
}

}  // namespace v4l2va::va
