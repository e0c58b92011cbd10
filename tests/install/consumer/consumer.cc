#include <weft/weft.h>

#include <cstdio>

int main() {
  weft::Runtime rt;
  const int v = rt.run([] {
    auto h = weft::spawn([] { return 21; });
    return h.join() * 2;
  });
  std::printf("consumer: %d\n", v);
  return v == 42 ? 0 : 1;
}
