// The portal's own sign-out: the person pressed Sign out already, so the form goes at once. Without
// JavaScript the page's one button does the same.
document.getElementById('sign-out-now')?.click();
