// The embed page: just the player, for an iframe on another site. The address it plays is a signed playback URL
// (the grant is in the URL itself), so requests carry no cookie and no key.
const video = document.getElementById('video');
const src = video.dataset.src;
if (window.Hls && window.Hls.isSupported()) {
  const hls = new window.Hls();
  hls.on(window.Hls.Events.ERROR, (_e, data) => {
    if (data.fatal) video.setAttribute('aria-description', 'This video cannot be played right now.');
  });
  hls.loadSource(src);
  hls.attachMedia(video);
} else {
  video.src = src;
}
