// The driver instance behind one VADisplay, and the VA objects it owns.
// Each VA object kind lives in its own module (config.cpp, context.cpp,
// surface.cpp, buffer.cpp, picture.cpp, image.cpp); this header declares the
// objects and the entry points those modules implement.
#pragma once

#include <va/va.h>
#include <va/va_backend.h>
#include <va/va_drmcommon.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "log.h"
#include "object_table.h"
#include "v4l2/capabilities.h"
#include "v4l2/device.h"
#include "v4l2/queue.h"

namespace v4l2va {

class Context;

struct Config {
  VAProfile profile = VAProfileNone;
  VAEntrypoint entrypoint = VAEntrypointVLD;
  uint32_t rt_format = VA_RT_FORMAT_YUV420;
};

// The picture a surface kept when the context it was bound to went away:
// the CAPTURE buffer's mapping (vb2 keeps mapped memory alive after the fds
// close) and its dma-bufs, so images and exports of the surface still show
// its last picture (mpv maps the last frame again after closing its decoder).
struct DetachedPicture {
  Format format;
  MappedBuffer memory;
  UniqueFd dmabufs[2];  // one per memory plane, from VIDIOC_EXPBUF
};

// A VA surface. Before its first decode it has no memory; the first context
// that decodes into it (or lists it as a render target, or exports it) binds
// a CAPTURE buffer to it for as long as both live, so an exported dma-buf
// stays valid across decodes. The binding fields are guarded by
// `binding_mutex`, the picture fields by the bound context's mutex.
struct Surface {
  VASurfaceID id = VA_INVALID_SURFACE;
  uint32_t width = 0;
  uint32_t height = 0;
  uint32_t rt_format = VA_RT_FORMAT_YUV420;

  std::mutex binding_mutex;
  std::weak_ptr<Context> context;  // guarded by binding_mutex
  CaptureIndex capture;            // valid while bound
  bool bound = false;
  std::shared_ptr<const DetachedPicture> detached;  // guarded by binding_mutex; only while unbound

  // What the CAPTURE buffer holds, as the client will be told (see
  // docs/design.md, "Damaged streams").
  enum class Picture {
    None,      // nothing decoded into it yet
    InFlight,  // queued; `sequence` names the request that completes it
    Decoded,   // done, no error reported
    Damaged,   // done, but the device flagged it or a reference was concealed
    Lost,      // never decoded: the submission failed or a queue reset cancelled it
  };
  Picture picture = Picture::None;
  // The device can find this picture by `timestamp_ns` (a DPB entry's
  // reference_ts). A queue reset clears every CAPTURE buffer's timestamp.
  bool referencable = false;
  bool known_damaged = false;  // damaged before the device saw it: a concealed reference, a damaged first field
  uint64_t timestamp_ns = 0;  // its V4L2 timestamp
  uint64_t sequence = 0;      // the last request of the picture; drained when completed
  VASurfaceDecodeMBErrors mb_errors[2]{};
};

// Bytes of a VA buffer, allocated without zero-filling: clients give the data
// at creation or write it after mapping, and images are written by GetImage.
class ByteBlock {
 public:
  ByteBlock() = default;
  explicit ByteBlock(size_t size) : bytes_(std::make_unique_for_overwrite<uint8_t[]>(size)), size_(size) {}
  uint8_t* data() const { return bytes_.get(); }
  size_t size() const { return size_; }

 private:
  std::unique_ptr<uint8_t[]> bytes_;
  size_t size_ = 0;
};

// Image memory is recycled: copy-back clients (ffmpeg without DeriveImage)
// create and destroy an image per frame, and fresh multi-megabyte blocks
// cost a page fault per 4 KiB each time.
class BlockCache {
 public:
  ByteBlock take(size_t size);
  void give(ByteBlock block);

 private:
  static constexpr size_t kMaxBlocks = 8;
  std::mutex mutex_;
  std::vector<ByteBlock> free_;
};

struct Buffer {
  ~Buffer() {
    if (recycle && block.size()) recycle->give(std::move(block));
  }
  VABufferType type = VABufferTypeMax;
  uint32_t element_size = 0;
  uint32_t num_elements = 0;
  ByteBlock block;
  std::shared_ptr<BlockCache> recycle;  // where `block` goes when the buffer dies
  // A derived image's buffer maps the CAPTURE memory instead of `block`; the
  // context is kept alive for as long as the buffer refers to its memory.
  uint8_t* external = nullptr;
  size_t external_size = 0;
  std::shared_ptr<Context> external_owner;
  VAContextID context = VA_INVALID_ID;

  uint8_t* bytes() { return external ? external : block.data(); }
  size_t size() const { return external ? external_size : size_t(element_size) * num_elements; }
};

struct Image {
  VAImage image{};
  VASurfaceID derived_from = VA_INVALID_SURFACE;
};

struct Driver {
  explicit Driver(VADriverContextP ctx) : va(ctx), log(ctx) {}
  // vaTerminate may come with objects still alive. Contexts must go before
  // the surfaces they unbind, and images/buffers may keep contexts alive.
  ~Driver() {
    images.clear();
    buffers.clear();
    staging.reset();
    contexts.clear();
    surfaces.clear();
    configs.clear();
  }

  VADriverContextP va;
  VaLog log;
  // Every usable stateless decoder found (src/discovery); each context uses
  // the first that offers its profile and size.
  std::vector<DecoderCapabilities> decoders;
  // Largest size any decoder accepts, for surfaces (created before a context).
  uint32_t max_width = 0, max_height = 0;

  ObjectTable<Config> configs{0x01000000};
  ObjectTable<Context> contexts{0x02000000};
  ObjectTable<Surface> surfaces{0x04000000};
  ObjectTable<Buffer> buffers{0x08000000};
  ObjectTable<Image> images{0x10000000};

  int timeout_ms = 5000;  // bound on any wait for the device
  uint32_t slot_count = 6;
  // LIBVA_V4L2_REQUEST_SYNC_ERRORS=1: vaSyncSurface returns
  // VA_STATUS_ERROR_DECODING_ERROR for a damaged or lost picture instead of
  // success (docs/design.md, "Damaged streams").
  bool sync_reports_errors = false;
  std::atomic<uint64_t> context_serials{0};  // creation order of contexts
  // A context no client created, for surfaces exported before any context
  // exists that can hold them (mpv's format probe): they get CAPTURE memory
  // there. Not in `contexts`; a client's context takes such a surface over.
  std::mutex staging_mutex;
  std::shared_ptr<Context> staging;  // guarded by staging_mutex
  std::shared_ptr<BlockCache> image_blocks = std::make_shared<BlockCache>();
};

// The most a client may make the driver allocate for one VA buffer.
inline constexpr size_t kMaxBufferBytes = size_t{128} << 20;

inline Driver& driver_of(VADriverContextP ctx) { return *static_cast<Driver*>(ctx->pDriverData); }

// The image formats the driver can produce.
const std::vector<VAImageFormat>& supported_image_formats();

}  // namespace v4l2va

// Entry points, one group per module.
namespace v4l2va::va {
VAStatus QueryConfigProfiles(VADriverContextP, VAProfile*, int*);
VAStatus QueryConfigEntrypoints(VADriverContextP, VAProfile, VAEntrypoint*, int*);
VAStatus GetConfigAttributes(VADriverContextP, VAProfile, VAEntrypoint, VAConfigAttrib*, int);
VAStatus CreateConfig(VADriverContextP, VAProfile, VAEntrypoint, VAConfigAttrib*, int, VAConfigID*);
VAStatus DestroyConfig(VADriverContextP, VAConfigID);
VAStatus QueryConfigAttributes(VADriverContextP, VAConfigID, VAProfile*, VAEntrypoint*, VAConfigAttrib*, int*);

VAStatus CreateSurfaces(VADriverContextP, int, int, int, int, VASurfaceID*);
VAStatus CreateSurfaces2(VADriverContextP, unsigned int, unsigned int, unsigned int, VASurfaceID*, unsigned int,
                         VASurfaceAttrib*, unsigned int);
VAStatus DestroySurfaces(VADriverContextP, VASurfaceID*, int);
VAStatus SyncSurface(VADriverContextP, VASurfaceID);
VAStatus SyncSurface2(VADriverContextP, VASurfaceID, uint64_t);
VAStatus QuerySurfaceStatus(VADriverContextP, VASurfaceID, VASurfaceStatus*);
VAStatus QuerySurfaceError(VADriverContextP, VASurfaceID, VAStatus, void**);
VAStatus QuerySurfaceAttributes(VADriverContextP, VAConfigID, VASurfaceAttrib*, unsigned int*);
VAStatus ExportSurfaceHandle(VADriverContextP, VASurfaceID, uint32_t, uint32_t, void*);

VAStatus CreateContext(VADriverContextP, VAConfigID, int, int, int, VASurfaceID*, int, VAContextID*);
VAStatus DestroyContext(VADriverContextP, VAContextID);

VAStatus CreateBuffer(VADriverContextP, VAContextID, VABufferType, unsigned int, unsigned int, void*, VABufferID*);
VAStatus BufferSetNumElements(VADriverContextP, VABufferID, unsigned int);
VAStatus MapBuffer(VADriverContextP, VABufferID, void**);
VAStatus UnmapBuffer(VADriverContextP, VABufferID);
VAStatus DestroyBuffer(VADriverContextP, VABufferID);
VAStatus BufferInfo(VADriverContextP, VABufferID, VABufferType*, unsigned int*, unsigned int*);

VAStatus BeginPicture(VADriverContextP, VAContextID, VASurfaceID);
VAStatus RenderPicture(VADriverContextP, VAContextID, VABufferID*, int);
VAStatus EndPicture(VADriverContextP, VAContextID);

VAStatus QueryImageFormats(VADriverContextP, VAImageFormat*, int*);
VAStatus CreateImage(VADriverContextP, VAImageFormat*, int, int, VAImage*);
VAStatus DeriveImage(VADriverContextP, VASurfaceID, VAImage*);
VAStatus DestroyImage(VADriverContextP, VAImageID);
VAStatus SetImagePalette(VADriverContextP, VAImageID, unsigned char*);
VAStatus GetImage(VADriverContextP, VASurfaceID, int, int, unsigned int, unsigned int, VAImageID);
VAStatus PutImage(VADriverContextP, VASurfaceID, VAImageID, int, int, unsigned int, unsigned int, int, int,
                  unsigned int, unsigned int);
}  // namespace v4l2va::va
