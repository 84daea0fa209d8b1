// The embed page: just the player, for an iframe on another site.
const video = document.getElementById('video');
const src = video.dataset.src;
if (window.Hls && window.Hls.isSupported()) {
  const hls = new window.Hls({ xhrSetup: (xhr) => { xhr.withCredentials = true; } });
  hls.loadSource(src);
  hls.attachMedia(video);
} else {
  video.src = src;
}
