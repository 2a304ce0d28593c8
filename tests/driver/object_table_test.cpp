// VA object IDs: an ID never names two live objects, also after the range
// wraps (2^24 creations of one kind).
#include <gtest/gtest.h>

#include "object_table.h"

namespace v4l2va {
namespace {

TEST(ObjectTable, IdsCarryTheirKindsRange) {
  ObjectTable<int> surfaces(0x04000000);
  const uint32_t id = surfaces.insert(std::make_shared<int>(1));
  EXPECT_EQ(id & 0xff000000u, 0x04000000u);
  EXPECT_EQ(*surfaces.find(id), 1);
  EXPECT_EQ(surfaces.find(id ^ 0x0c000000u), nullptr);
}

TEST(ObjectTable, WrappingSkipsIdsStillInUse) {
  ObjectTable<int> table(0x04000000);
  const uint32_t first = table.insert(std::make_shared<int>(1));  // 0x04000000, kept alive
  const uint32_t second = table.insert(std::make_shared<int>(2));
  table.set_next_for_test(ObjectTable<int>::kRangeMask);  // the last ID of the range comes next
  const uint32_t last = table.insert(std::make_shared<int>(3));
  EXPECT_EQ(last, 0x04ffffffu);
  // The range wraps: the IDs of the two live objects are skipped.
  const uint32_t wrapped = table.insert(std::make_shared<int>(4));
  EXPECT_EQ(wrapped, 0x04000002u);
  EXPECT_EQ(*table.find(first), 1);
  EXPECT_EQ(*table.find(second), 2);
  EXPECT_EQ(*table.find(wrapped), 4);
  // A freed ID is handed out again only when the search comes round to it.
  table.remove(second);
  table.set_next_for_test(0);
  EXPECT_EQ(table.insert(std::make_shared<int>(5)), second);
}

}  // namespace
}  // namespace v4l2va
