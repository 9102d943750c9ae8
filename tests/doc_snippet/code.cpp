// The file a stale copy in stale.md was taken from (tests/doc_snippet.cmake must reject it).
int main() {
  return 0;
}
