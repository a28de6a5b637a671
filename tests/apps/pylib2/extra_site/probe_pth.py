WHERE = "extra_site via extra.pth"
