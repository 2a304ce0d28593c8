// Pure-logic tests of discovery: walking media topologies to decoder video
// nodes, and choosing a decoder per profile and picture size. No device.

#include <gtest/gtest.h>
#include <linux/media.h>
#include <linux/videodev2.h>
#include <sys/sysmacros.h>

#include <cstring>
#include <string>

#include "discovery/discovery.h"

namespace v4l2va {
namespace {

class CollectingLog final : public Log {
 public:
  void error(const std::string& line) override { errors.push_back(line); }
  void info(const std::string& line) override { infos.push_back(line); }
  std::vector<std::string> errors, infos;
};

// Builds topologies the way the kernel does: ids from one counter, pads owned
// by entities, data links between pads, interface links interface -> entity.
class TopologyBuilder {
 public:
  uint32_t entity(const char* name, uint32_t function) {
    media_v2_entity e{};
    e.id = next_id_++;
    std::strncpy(e.name, name, sizeof e.name - 1);
    e.function = function;
    topology.entities.push_back(e);
    return e.id;
  }
  uint32_t pad(uint32_t entity_id, uint32_t flags) {
    media_v2_pad p{};
    p.id = next_id_++;
    p.entity_id = entity_id;
    p.flags = flags;
    topology.pads.push_back(p);
    return p.id;
  }
  void data_link(uint32_t source_pad, uint32_t sink_pad) {
    media_v2_link l{};
    l.id = next_id_++;
    l.source_id = source_pad;
    l.sink_id = sink_pad;
    l.flags = MEDIA_LNK_FL_DATA_LINK | MEDIA_LNK_FL_ENABLED | MEDIA_LNK_FL_IMMUTABLE;
    topology.links.push_back(l);
  }
  uint32_t interface(uint32_t type, uint32_t major_number, uint32_t minor_number) {
    media_v2_interface i{};
    i.id = next_id_++;
    i.intf_type = type;
    i.devnode.major = major_number;
    i.devnode.minor = minor_number;
    topology.interfaces.push_back(i);
    return i.id;
  }
  void interface_link(uint32_t interface_id, uint32_t entity_id) {
    media_v2_link l{};
    l.id = next_id_++;
    l.source_id = interface_id;
    l.sink_id = entity_id;
    l.flags = MEDIA_LNK_FL_INTERFACE_LINK | MEDIA_LNK_FL_ENABLED | MEDIA_LNK_FL_IMMUTABLE;
    topology.links.push_back(l);
  }

  // What v4l2_m2m_register_media_controller() registers: source (IO_V4L) ->
  // proc (`function`) -> sink (IO_V4L), and one video interface linked to
  // source and sink.
  void m2m(const std::string& base, uint32_t function, uint32_t video_minor) {
    uint32_t source = entity((base + "-source").c_str(), MEDIA_ENT_F_IO_V4L);
    uint32_t source_pad = pad(source, MEDIA_PAD_FL_SOURCE);
    uint32_t proc = entity((base + "-proc").c_str(), function);
    uint32_t proc_sink = pad(proc, MEDIA_PAD_FL_SINK);
    uint32_t proc_source = pad(proc, MEDIA_PAD_FL_SOURCE);
    uint32_t sink = entity((base + "-sink").c_str(), MEDIA_ENT_F_IO_V4L);
    uint32_t sink_pad = pad(sink, MEDIA_PAD_FL_SINK);
    data_link(source_pad, proc_sink);
    data_link(proc_source, sink_pad);
    uint32_t video = interface(MEDIA_INTF_T_V4L_VIDEO, 81, video_minor);
    interface_link(video, source);
    interface_link(video, sink);
  }

  MediaTopology topology;

 private:
  uint32_t next_id_ = 1;
};

TEST(FindDecoderEntities, M2mDecoderLeadsToItsVideoNode) {
  TopologyBuilder t;
  t.m2m("rockchip,rk3399-vpu-dec", MEDIA_ENT_F_PROC_VIDEO_DECODER, 3);
  std::vector<DecoderEntity> found = find_decoder_entities(t.topology);
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].entity_name, "rockchip,rk3399-vpu-dec-proc");
  ASSERT_TRUE(found[0].video_devnum.has_value());
  EXPECT_EQ(*found[0].video_devnum, makedev(81, 3));
}

TEST(FindDecoderEntities, EncoderAndCameraAreNotDecoders) {
  TopologyBuilder t;
  t.m2m("rockchip,rk3399-vpu-enc", MEDIA_ENT_F_PROC_VIDEO_ENCODER, 1);
  uint32_t sensor = t.entity("imx219 1-0010", MEDIA_ENT_F_CAM_SENSOR);
  t.pad(sensor, MEDIA_PAD_FL_SOURCE);
  EXPECT_TRUE(find_decoder_entities(t.topology).empty());
}

TEST(FindDecoderEntities, EncoderAndDecoderOnOneMediaDeviceEachGetTheirOwnNode) {
  // Hantro on RK3288 registers its encoder and decoder on one media device.
  TopologyBuilder t;
  t.m2m("rockchip,rk3288-vpu-enc", MEDIA_ENT_F_PROC_VIDEO_ENCODER, 0);
  t.m2m("rockchip,rk3288-vpu-dec", MEDIA_ENT_F_PROC_VIDEO_DECODER, 1);
  std::vector<DecoderEntity> found = find_decoder_entities(t.topology);
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].entity_name, "rockchip,rk3288-vpu-dec-proc");
  EXPECT_EQ(found[0].video_devnum, makedev(81, 1));
}

TEST(FindDecoderEntities, SubdevInterfaceIsNotAVideoNode) {
  TopologyBuilder t;
  uint32_t source = t.entity("dec-source", MEDIA_ENT_F_IO_V4L);
  uint32_t source_pad = t.pad(source, MEDIA_PAD_FL_SOURCE);
  uint32_t proc = t.entity("dec-proc", MEDIA_ENT_F_PROC_VIDEO_DECODER);
  t.data_link(source_pad, t.pad(proc, MEDIA_PAD_FL_SINK));
  t.interface_link(t.interface(MEDIA_INTF_T_V4L_SUBDEV, 81, 7), source);
  std::vector<DecoderEntity> found = find_decoder_entities(t.topology);
  ASSERT_EQ(found.size(), 1u);
  EXPECT_FALSE(found[0].video_devnum.has_value());
}

TEST(FindDecoderEntities, DecoderWithoutLinksHasNoNode) {
  TopologyBuilder t;
  t.entity("lonely-proc", MEDIA_ENT_F_PROC_VIDEO_DECODER);
  // A video interface that belongs to another entity must not be picked up.
  uint32_t other = t.entity("other-io", MEDIA_ENT_F_IO_V4L);
  t.interface_link(t.interface(MEDIA_INTF_T_V4L_VIDEO, 81, 9), other);
  std::vector<DecoderEntity> found = find_decoder_entities(t.topology);
  ASSERT_EQ(found.size(), 1u);
  EXPECT_FALSE(found[0].video_devnum.has_value());
}

TEST(FindDecoderEntities, TwoDecodersInOneGraphAreBothFoundInEntityOrder) {
  TopologyBuilder t;
  t.m2m("g1", MEDIA_ENT_F_PROC_VIDEO_DECODER, 4);
  t.m2m("g2", MEDIA_ENT_F_PROC_VIDEO_DECODER, 5);
  std::vector<DecoderEntity> found = find_decoder_entities(t.topology);
  ASSERT_EQ(found.size(), 2u);
  EXPECT_EQ(found[0].video_devnum, makedev(81, 4));
  EXPECT_EQ(found[1].video_devnum, makedev(81, 5));
}

DecoderCapabilities decoder(const char* video, uint32_t max_width, uint32_t max_height,
                            std::vector<VAProfile> profiles) {
  DecoderCapabilities d;
  d.video_path = video;
  d.driver_name = video;
  d.min_width = 48;
  d.min_height = 48;
  d.max_width = max_width;
  d.max_height = max_height;
  CodedFormatCaps h264;
  h264.codec = CodecKind::H264;
  h264.pixelformat = V4L2_PIX_FMT_H264_SLICE;
  h264.profiles = std::move(profiles);
  h264.min_width = 48;
  h264.min_height = 48;
  h264.max_width = max_width;
  h264.max_height = max_height;
  d.codecs.push_back(h264);
  return d;
}

// RK3399-like: a 1080p decoder without High first, a 4K one with High second.
std::vector<DecoderCapabilities> rk3399_like() {
  return {decoder("/dev/video0", 1920, 1088, {VAProfileH264ConstrainedBaseline, VAProfileH264Main}),
          decoder("/dev/video1", 4096, 2304, {VAProfileH264Main, VAProfileH264High})};
}

TEST(ChooseDecoder, FirstDecoderThatOffersProfileAndSizeWins) {
  auto decoders = rk3399_like();
  CollectingLog log;
  EXPECT_EQ(choose_decoder(decoders, VAProfileH264Main, 1280, 720, log), &decoders[0]);
  EXPECT_EQ(choose_decoder(decoders, VAProfileH264ConstrainedBaseline, 1920, 1088, log), &decoders[0]);
}

TEST(ChooseDecoder, ProfileOnlySecondDecoderOffersGoesThere) {
  auto decoders = rk3399_like();
  CollectingLog log;
  EXPECT_EQ(choose_decoder(decoders, VAProfileH264High, 640, 480, log), &decoders[1]);
  ASSERT_FALSE(log.infos.empty());
  EXPECT_NE(log.infos.back().find("/dev/video1"), std::string::npos);
  EXPECT_NE(log.infos.back().find("no H264High"), std::string::npos) << log.infos.back();
}

TEST(ChooseDecoder, SizeBeyondFirstDecoderGoesToSecond) {
  auto decoders = rk3399_like();
  CollectingLog log;
  EXPECT_EQ(choose_decoder(decoders, VAProfileH264Main, 3840, 2160, log), &decoders[1]);
  EXPECT_NE(log.infos.back().find("3840x2160 outside 48x48..1920x1088"), std::string::npos) << log.infos.back();
}

TEST(ChooseDecoder, NothingFitsGivesNullAndSaysWhy) {
  auto decoders = rk3399_like();
  CollectingLog log;
  EXPECT_EQ(choose_decoder(decoders, VAProfileH264ConstrainedBaseline, 3840, 2160, log), nullptr);
  EXPECT_EQ(choose_decoder(decoders, VAProfileH264High, 8192, 4320, log), nullptr);
  EXPECT_EQ(choose_decoder(decoders, VAProfileH264Main, 16, 16, log), nullptr);  // below the minimum
  EXPECT_EQ(choose_decoder(decoders, VAProfileHEVCMain, 0, 0, log), nullptr);
  ASSERT_EQ(log.errors.size(), 4u);
  EXPECT_NE(log.errors[0].find("/dev/video0"), std::string::npos);
  EXPECT_NE(log.errors[0].find("/dev/video1"), std::string::npos);
}

TEST(ChooseDecoder, ZeroSizeMeansAnySize) {
  auto decoders = rk3399_like();
  CollectingLog log;
  EXPECT_EQ(choose_decoder(decoders, VAProfileH264Main, 0, 0, log), &decoders[0]);
  EXPECT_EQ(choose_decoder({}, VAProfileH264Main, 0, 0, log), nullptr);
}

TEST(SupportedProfiles, UnionInVaOrderWithoutDuplicates) {
  std::vector<VAProfile> profiles = supported_profiles(rk3399_like());
  EXPECT_EQ(profiles, (std::vector<VAProfile>{VAProfileH264Main, VAProfileH264High,
                                              VAProfileH264ConstrainedBaseline}));
  EXPECT_TRUE(supported_profiles({}).empty());
}

TEST(MaxPictureSize, LargestDecoderOfferingTheProfile) {
  auto decoders = rk3399_like();
  EXPECT_EQ(max_picture_size(decoders, VAProfileH264ConstrainedBaseline).width, 1920u);
  EXPECT_EQ(max_picture_size(decoders, VAProfileH264ConstrainedBaseline).height, 1088u);
  EXPECT_EQ(max_picture_size(decoders, VAProfileH264Main).width, 4096u);
  EXPECT_EQ(max_picture_size(decoders, VAProfileH264Main).height, 2304u);
  EXPECT_EQ(max_picture_size(decoders, VAProfileHEVCMain).width, 0u);
}

TEST(MaxPictureSize, NeverMixesTwoDecodersLimits) {
  // Component-wise maxima would claim 4096x2304, which neither decoder takes;
  // the reported size is the larger (by area) of the two real limits.
  std::vector<DecoderCapabilities> decoders = {decoder("/dev/video0", 1920, 2304, {VAProfileH264Main}),
                                               decoder("/dev/video1", 4096, 1088, {VAProfileH264Main})};
  PictureSize size = max_picture_size(decoders, VAProfileH264Main);
  EXPECT_EQ(size.width, 4096u);
  EXPECT_EQ(size.height, 1088u);
}

}  // namespace
}  // namespace v4l2va
