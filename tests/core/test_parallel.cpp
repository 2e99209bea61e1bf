// The team barrier (core/parallel.h) that the decoder runner and the packed matmul meet at.
#include <gtest/gtest.h>
#include <omp.h>

#include <atomic>
#include <thread>
#include <vector>

#include "cornerstone/core/parallel.h"

using namespace cornerstone;

// Every round each thread writes its slot, meets the others, checks that it sees every slot of
// this round, and meets them again before anyone writes the next round. A barrier that lets a
// thread through early, or loses a phase, fails the check or hangs.
TEST(SpinBarrier, NoThreadPassesBeforeAllHaveArrived) {
  for (int parties : {2, 3, 5}) {
    SpinBarrier barrier(parties);
    std::vector<std::atomic<int>> slot(static_cast<size_t>(parties));
    std::atomic<int> wrong{0};
    std::vector<std::thread> threads;
    for (int id = 0; id < parties; ++id)
      threads.emplace_back([&, id] {
        for (int round = 1; round <= 2000; ++round) {
          slot[static_cast<size_t>(id)].store(round, std::memory_order_relaxed);
          barrier.arrive_and_wait();
          for (const auto& s : slot)
            if (s.load(std::memory_order_relaxed) != round) wrong.fetch_add(1);
          barrier.arrive_and_wait();
        }
      });
    for (auto& t : threads) t.join();
    EXPECT_EQ(wrong.load(), 0) << parties << " threads";
  }
}

// A region that got fewer threads than its barrier was made for still meets: the team is sized
// by the region, not by the request.
TEST(SpinBarrier, TeamOfARegionFollowsTheThreadsItGot) {
  SpinBarrier barrier(4);
  std::atomic<int> sum{0}, size{0};
  omp_set_dynamic(0);
#pragma omp parallel num_threads(2)
  {
    const Team team = Team::of_region(barrier);
    size.store(team.size);
    sum.fetch_add(team.id + 1);
    team.sync();
    EXPECT_EQ(sum.load(), 3);
    team.sync();
  }
  EXPECT_EQ(size.load(), 2);
  EXPECT_EQ(barrier.parties(), 2);
  const Team alone = Team::of_region(barrier);  // outside a region: a team of one, which never waits
  EXPECT_EQ(alone.size, 1);
  alone.sync();
}
