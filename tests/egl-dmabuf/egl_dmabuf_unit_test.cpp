// The import layer's pure parts: formats, attribute rules, plane layout.
#include <drm_fourcc.h>
#include <gtest/gtest.h>

#include "dmabuf_attributes.h"
#include "dmabuf_format.h"
#include "gl_upload.h"

namespace egl_dmabuf {
namespace {

std::vector<EGLAttrib> plane0(uint32_t fourcc, int w, int h, int fd, int offset, int pitch) {
  return {EGL_WIDTH, w, EGL_HEIGHT, h, EGL_LINUX_DRM_FOURCC_EXT, fourcc, EGL_DMA_BUF_PLANE0_FD_EXT, fd,
          EGL_DMA_BUF_PLANE0_OFFSET_EXT, offset, EGL_DMA_BUF_PLANE0_PITCH_EXT, pitch};
}

ImportError check(const std::vector<EGLAttrib>& list, ImportSpec& spec) {
  DmaBufAttributes a;
  ImportError e = parse_attributes(list, a);
  return e.ok() ? check_attributes(a, spec) : e;
}

TEST(Formats, KnowsTheVideoPlanesAndTheirModifiers) {
  ASSERT_NE(find_format(DRM_FORMAT_R8), nullptr);
  ASSERT_NE(find_format(DRM_FORMAT_GR88), nullptr);
  ASSERT_NE(find_format(DRM_FORMAT_NV12), nullptr);
  EXPECT_EQ(find_format(DRM_FORMAT_YUV420), nullptr);
  EXPECT_TRUE(modifier_supported(DRM_FORMAT_R8, DRM_FORMAT_MOD_ALLWINNER_TILED));
  EXPECT_TRUE(modifier_supported(DRM_FORMAT_NV12, DRM_FORMAT_MOD_LINEAR));
  EXPECT_FALSE(modifier_supported(DRM_FORMAT_ARGB8888, DRM_FORMAT_MOD_ALLWINNER_TILED));
  EXPECT_EQ(kModifierAllwinnerTiled, DRM_FORMAT_MOD_ALLWINNER_TILED);
  EXPECT_EQ(fourcc_name(DRM_FORMAT_R8), "R8");
  EXPECT_EQ(fourcc_name(DRM_FORMAT_GR88), "GR88");
}

TEST(Formats, Nv12ChromaPlaneIsHalfSizeRoundedUp) {
  const FormatInfo& nv12 = *find_format(DRM_FORMAT_NV12);
  PlaneExtent y = plane_extent(nv12, 0, 33, 17), uv = plane_extent(nv12, 1, 33, 17);
  EXPECT_EQ(y.row_bytes, 33u);
  EXPECT_EQ(y.rows, 17u);
  EXPECT_EQ(uv.row_bytes, 34u);  // 17 CbCr pairs
  EXPECT_EQ(uv.rows, 9u);
}

TEST(Attributes, CompleteSinglePlaneImportIsAccepted) {
  ImportSpec spec;
  ASSERT_TRUE(check(plane0(DRM_FORMAT_R8, 64, 32, 5, 0, 64), spec).ok());
  EXPECT_EQ(spec.width, 64u);
  ASSERT_EQ(spec.planes.size(), 1u);
  EXPECT_EQ(spec.planes[0].fd, 5);
  EXPECT_FALSE(spec.explicit_modifier);
}

TEST(Attributes, MissingPitchIsBadParameter) {
  ImportSpec spec;
  auto list = plane0(DRM_FORMAT_R8, 64, 32, 5, 0, 64);
  list.resize(list.size() - 2);
  EXPECT_EQ(check(list, spec).code, EGL_BAD_PARAMETER);
}

TEST(Attributes, UnknownFormatIsBadMatch) {
  ImportSpec spec;
  EXPECT_EQ(check(plane0(DRM_FORMAT_YUV420, 64, 32, 5, 0, 64), spec).code, EGL_BAD_MATCH);
}

TEST(Attributes, ExtraPlaneIsBadAttribute) {
  ImportSpec spec;
  auto list = plane0(DRM_FORMAT_R8, 64, 32, 5, 0, 64);
  list.insert(list.end(), {EGL_DMA_BUF_PLANE1_FD_EXT, 5});
  EXPECT_EQ(check(list, spec).code, EGL_BAD_ATTRIBUTE);
}

TEST(Attributes, Nv12NeedsBothPlanes) {
  ImportSpec spec;
  EXPECT_EQ(check(plane0(DRM_FORMAT_NV12, 64, 32, 5, 0, 64), spec).code, EGL_BAD_PARAMETER);
  auto list = plane0(DRM_FORMAT_NV12, 64, 32, 5, 0, 64);
  list.insert(list.end(), {EGL_DMA_BUF_PLANE1_FD_EXT, 5, EGL_DMA_BUF_PLANE1_OFFSET_EXT, 2048,
                           EGL_DMA_BUF_PLANE1_PITCH_EXT, 64});
  ASSERT_TRUE(check(list, spec).ok());
  EXPECT_EQ(spec.planes[1].location.offset, 2048u);
}

TEST(Attributes, ModifierHalvesAndAgreement) {
  ImportSpec spec;
  const uint64_t tiled = DRM_FORMAT_MOD_ALLWINNER_TILED;
  auto list = plane0(DRM_FORMAT_R8, 64, 32, 5, 0, 64);
  list.insert(list.end(), {EGL_DMA_BUF_PLANE0_MODIFIER_LO_EXT, static_cast<EGLAttrib>(tiled & 0xffffffff)});
  EXPECT_EQ(check(list, spec).code, EGL_BAD_PARAMETER);
  list.insert(list.end(), {EGL_DMA_BUF_PLANE0_MODIFIER_HI_EXT, static_cast<EGLAttrib>(tiled >> 32)});
  ASSERT_TRUE(check(list, spec).ok());
  EXPECT_TRUE(spec.explicit_modifier);
  EXPECT_EQ(spec.modifier, tiled);

  auto rgb = plane0(DRM_FORMAT_XRGB8888, 64, 32, 5, 0, 256);
  rgb.insert(rgb.end(), {EGL_DMA_BUF_PLANE0_MODIFIER_LO_EXT, static_cast<EGLAttrib>(tiled & 0xffffffff),
                         EGL_DMA_BUF_PLANE0_MODIFIER_HI_EXT, static_cast<EGLAttrib>(tiled >> 32)});
  EXPECT_EQ(check(rgb, spec).code, EGL_BAD_MATCH);
}

TEST(Attributes, UnknownAttributeIsBadParameterAndHintsAreIgnored) {
  ImportSpec spec;
  auto list = plane0(DRM_FORMAT_R8, 64, 32, 5, 0, 64);
  list.insert(list.end(), {EGL_YUV_COLOR_SPACE_HINT_EXT, EGL_ITU_REC709_EXT});
  EXPECT_TRUE(check(list, spec).ok());
  list.insert(list.end(), {0x7777, 1});
  EXPECT_EQ(check(list, spec).code, EGL_BAD_PARAMETER);
}

TEST(Layout, LinearPlaneEndAndShortPitch) {
  std::string why;
  PlaneExtent e{100, 10};
  EXPECT_EQ(*plane_end(e, {16, 128}, kModifierLinear, why), 16u + 128u * 9 + 100);
  EXPECT_FALSE(plane_end(e, {0, 99}, kModifierLinear, why));
  EXPECT_FALSE(why.empty());
}

TEST(Layout, TiledPlaneCoversWholeTileRows) {
  std::string why;
  PlaneExtent e{100, 40};
  EXPECT_EQ(*plane_end(e, {0, 128}, kModifierAllwinnerTiled, why), 128u * 64);
  EXPECT_FALSE(plane_end(e, {0, 112}, kModifierAllwinnerTiled, why));  // 112 is not 32-aligned
}

// Each byte = its own position, so a misplaced tile shows.
std::vector<uint8_t> pattern(const PlaneExtent& e) {
  std::vector<uint8_t> v(size_t(e.row_bytes) * e.rows);
  for (uint32_t y = 0; y < e.rows; ++y)
    for (uint32_t x = 0; x < e.row_bytes; ++x) v[size_t(y) * e.row_bytes + x] = uint8_t(x * 7 + y * 13);
  return v;
}

TEST(Layout, TiledRoundTripAndKnownPosition) {
  PlaneExtent e{70, 45};
  PlaneLocation where{64, 96};
  auto packed = pattern(e);
  auto buffer = write_plane(packed, e, where, kModifierAllwinnerTiled, 64 + 96 * 64);
  // Byte (x=33, y=1) lies in tile (1, 0) at row 1, column 1.
  EXPECT_EQ(buffer[64 + 1024 + 32 + 1], packed[1 * 70 + 33]);
  // Byte (x=2, y=33) lies in tile row 1 (offset pitch*32), tile 0, row 1.
  EXPECT_EQ(buffer[64 + 96 * 32 + 32 + 2], packed[33 * 70 + 2]);
  EXPECT_EQ(read_plane(buffer.data(), e, where, kModifierAllwinnerTiled), packed);
}

TEST(Layout, LinearRoundTripSkipsPadding) {
  PlaneExtent e{30, 5};
  PlaneLocation where{10, 40};
  auto packed = pattern(e);
  auto buffer = write_plane(packed, e, where, kModifierLinear, 10 + 40 * 5);
  EXPECT_EQ(buffer[10 + 40 + 3], packed[30 + 3]);
  EXPECT_EQ(read_plane(buffer.data(), e, where, kModifierLinear), packed);
}

TEST(GlOrder, SwizzlesToGlComponentOrder) {
  std::vector<uint8_t> bgra = {1, 2, 3, 4};
  EXPECT_EQ(to_gl_order(bgra, gl_pixel_format(DRM_FORMAT_ARGB8888)), (std::vector<uint8_t>{3, 2, 1, 4}));
  EXPECT_EQ(to_gl_order(bgra, gl_pixel_format(DRM_FORMAT_XRGB8888)), (std::vector<uint8_t>{3, 2, 1, 255}));
  std::vector<uint8_t> gr = {9, 8};
  EXPECT_EQ(to_gl_order(gr, gl_pixel_format(DRM_FORMAT_GR88)), gr);
  EXPECT_EQ(to_gl_order(gr, gl_pixel_format(DRM_FORMAT_RG88)), (std::vector<uint8_t>{8, 9}));
  EXPECT_EQ(gl_pixel_format(DRM_FORMAT_NV12).bytes_per_pixel, 0u);
}

}  // namespace
}  // namespace egl_dmabuf
